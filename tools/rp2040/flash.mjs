// Flash writes. rp2040js serves execute-in-place reads from its flash array but does not model
// the flash chip's program and erase commands, so MicroPython's filesystem (which writes through
// the bootrom's flash functions) would see its writes vanish. The bootrom's function table names
// those functions; each gets a BKPT whose handler does the work on the array and returns.

const code = (name) => name.charCodeAt(0) | (name.charCodeAt(1) << 8);

export function emulateFlashWrites(mcu) {
  const { core, flash } = mcu;
  const rom = new DataView(mcu.bootrom.buffer);
  const functions = new Map();
  for (let at = rom.getUint16(0x14, true); rom.getUint16(at, true); at += 4) {
    functions.set(rom.getUint16(at, true), rom.getUint16(at + 2, true) & ~1);
  }
  const reg = (n) => core.registers[n] >>> 0;
  const hooks = [
    ['RE', () => flash.fill(0xff, reg(0), reg(0) + reg(1))], // flash_range_erase(offs, count, ..)
    [
      'RP', // flash_range_program(offs, data, count): NOR programming only clears bits
      () => {
        const offset = reg(0);
        const data = reg(1);
        for (let i = 0; i < reg(2); i++) flash[offset + i] &= mcu.readUint8(data + i);
      },
    ],
    ['IF', () => {}], // connect_internal_flash, flash_exit_xip, flash_flush_cache and
    ['EX', () => {}], // flash_enter_cmd_xip: nothing to switch, reads come from the array
    ['FC', () => {}],
    ['CX', () => {}],
  ];
  hooks.forEach(([name], number) => {
    const address = functions.get(code(name));
    const word = address >> 2;
    const shift = (address & 2) * 8;
    const bkpt = 0xbe00 | number;
    mcu.bootrom[word] = (mcu.bootrom[word] & ~(0xffff << shift)) | (bkpt << shift);
  });
  mcu.onBreak = (number) => {
    const hook = hooks[number];
    if (!hook) throw new Error(`unexpected breakpoint ${number} at 0x${core.PC.toString(16)}`);
    hook[1]();
    core.PC = core.LR & ~1; // return from the bootrom function
  };
}
