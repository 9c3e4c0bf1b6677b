// Loads a firmware image into the emulated flash: UF2 blocks, an ELF's loadable segments, or a
// raw binary that starts at the beginning of flash.
import fs from 'node:fs';

const FLASH_BASE = 0x10000000;
const UF2_MAGIC_START0 = 0x0a324655;
const UF2_MAGIC_START1 = 0x9e5d5157;

function put(flash, address, bytes) {
  const offset = address - FLASH_BASE;
  if (offset < 0 || offset + bytes.length > flash.length) {
    throw new Error(`image data at 0x${address.toString(16)} lies outside flash`);
  }
  flash.set(bytes, offset);
}

function loadUF2(data, flash) {
  for (let at = 0; at + 512 <= data.length; at += 512) {
    const block = data.subarray(at, at + 512);
    const view = new DataView(block.buffer, block.byteOffset, 512);
    if (view.getUint32(0, true) !== UF2_MAGIC_START0) continue;
    if (view.getUint32(4, true) !== UF2_MAGIC_START1) continue;
    const address = view.getUint32(12, true);
    const size = view.getUint32(16, true);
    put(flash, address, block.subarray(32, 32 + size));
  }
}

function loadELF(data, flash) {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const phoff = view.getUint32(28, true);
  const phentsize = view.getUint16(42, true);
  const phnum = view.getUint16(44, true);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const type = view.getUint32(ph, true);
    const offset = view.getUint32(ph + 4, true);
    const paddr = view.getUint32(ph + 12, true);
    const filesz = view.getUint32(ph + 16, true);
    if (type !== 1 || !filesz) continue; // PT_LOAD with file contents
    if (paddr < FLASH_BASE || paddr >= FLASH_BASE + flash.length) continue; // RAM-only segment
    put(flash, paddr, data.subarray(offset, offset + filesz));
  }
}

export function loadFirmware(path, flash) {
  const data = fs.readFileSync(path);
  if (data.readUInt32LE(0) === UF2_MAGIC_START0) loadUF2(data, flash);
  else if (data.readUInt32BE(0) === 0x7f454c46) loadELF(data, flash);
  else put(flash, FLASH_BASE, data);
}
