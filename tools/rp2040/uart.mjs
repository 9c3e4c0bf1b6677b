// The PL011 as the firmware sees it, paced in simulated time. rp2040js's own UART sends every
// byte the instant it is written and takes bytes as fast as they are fed; this layer replaces
// its data, flag, FIFO-level and interrupt registers with a 32-byte transmit FIFO drained one
// frame time per byte, a 32-byte receive FIFO filled one frame time per byte from the wire, the
// receive overrun (a byte that completes while the FIFO is full is lost), and the interrupt
// rules of the PL011 TRM: RX at the FIFO trigger level, RX timeout after 32 idle bit periods,
// TX when the transmit FIFO falls through its trigger level.

const DR = 0x00;
const RSR = 0x04;
const FR = 0x18;
const IFLS = 0x34;
const ICR = 0x44;
const FIFO_SIZE = 32;
const FR_BUSY = 1 << 3;
const FR_RXFE = 1 << 4;
const FR_TXFF = 1 << 5;
const FR_RXFF = 1 << 6;
const FR_TXFE = 1 << 7;
const INT_RX = 1 << 4;
const INT_TX = 1 << 5;
const INT_RT = 1 << 6;
const INT_OE = 1 << 10;
const DR_OE = 1 << 11;
const TRIGGER = [4, 8, 16, 24, 28]; // IFLS field value -> FIFO entries (1/8 ... 7/8)

export class PacedUART {
  constructor(mcu, uart, clock) {
    this.mcu = mcu;
    this.uart = uart;
    this.ifls = 0x12; // reset value: both trigger levels at 1/2
    this.tx = []; // transmit FIFO
    this.shifting = false; // a frame is on the TX wire
    this.rx = []; // receive FIFO
    this.rxOverrun = false; // the next byte read carries the OE flag
    this.wire = []; // Buffers received from the module, not yet on the RX line
    this.wireOffset = 0;
    this.onWire = null; // (Uint8Array) => void: bytes that have left the TX pin
    this.txAlarm = clock.createAlarm(() => this.txDone());
    this.rxAlarm = clock.createAlarm(() => this.rxDone());
    this.rtAlarm = clock.createAlarm(() => this.rxTimeout());
    this.rxBusy = false;
    this.resetCounters();
    this.patch();
  }

  resetCounters() {
    this.txBytes = 0;
    this.rxBytes = 0;
    this.overruns = 0;
  }

  get baud() {
    return this.uart.baudDivider ? this.uart.baudRate : 115200;
  }

  get frameBits() {
    const lcr = this.uart.lineCtrlRegister;
    const bits = 5 + ((lcr >>> 5) & 3);
    return 1 + bits + (lcr & 2 ? 1 : 0) + (lcr & 8 ? 2 : 1);
  }

  get frameNanos() {
    return (this.frameBits * 1e9) / this.baud;
  }

  get rxCapacity() {
    return this.uart.fifosEnabled ? FIFO_SIZE : 1;
  }

  get txCapacity() {
    return this.uart.fifosEnabled ? FIFO_SIZE : 1;
  }

  patch() {
    const uart = this.uart;
    const read = uart.readUint32.bind(uart);
    const write = uart.writeUint32.bind(uart);
    uart.readUint32 = (offset) => {
      switch (offset) {
        case DR:
          return this.readData();
        case RSR:
          return this.rxOverrun ? 8 : 0;
        case FR:
          return this.flags();
        case IFLS:
          return this.ifls;
        default:
          return read(offset);
      }
    };
    uart.writeUint32 = (offset, value) => {
      switch (offset) {
        case DR:
          this.writeData(value & 0xff);
          return;
        case RSR:
          this.rxOverrun = false;
          return;
        case IFLS:
          this.ifls = value & 0x3f;
          return;
        case ICR:
          uart.interruptStatus &= ~uart.rawWriteValue;
          this.updateIRQ();
          return;
        default:
          write(offset, value);
      }
    };
    uart.checkInterrupts = () => this.updateIRQ();
  }

  updateIRQ() {
    const u = this.uart;
    this.mcu.setInterrupt(u.irq, !!(u.interruptStatus & u.interruptMask));
  }

  setInt(bits) {
    this.uart.interruptStatus |= bits;
    this.updateIRQ();
  }

  clearInt(bits) {
    this.uart.interruptStatus &= ~bits;
    this.updateIRQ();
  }

  flags() {
    let fr = 0;
    if (this.rx.length === 0) fr |= FR_RXFE;
    if (this.rx.length >= this.rxCapacity) fr |= FR_RXFF;
    if (this.tx.length === 0) fr |= FR_TXFE;
    if (this.tx.length >= this.txCapacity) fr |= FR_TXFF;
    if (this.shifting || this.tx.length) fr |= FR_BUSY;
    return fr;
  }

  // --- transmit ---------------------------------------------------------------------------------
  get txTrigger() {
    return TRIGGER[this.ifls & 7] ?? 16;
  }

  writeData(byte) {
    if (!this.uart.enabled || this.tx.length >= this.txCapacity) return; // lost, as on the chip
    this.tx.push(byte);
    if (this.tx.length > this.txTrigger) this.clearInt(INT_TX);
    if (!this.shifting) this.startFrame();
  }

  startFrame() {
    this.shiftByte = this.tx.shift();
    this.shifting = true;
    this.txAlarm.schedule(this.frameNanos);
    if (this.tx.length === this.txTrigger) this.setInt(INT_TX); // fell through the level
  }

  txDone() {
    this.shifting = false;
    this.txBytes++;
    this.onWire?.(Uint8Array.of(this.shiftByte));
    if (this.tx.length) this.startFrame();
  }

  // --- receive ----------------------------------------------------------------------------------
  get rxTrigger() {
    return TRIGGER[(this.ifls >> 3) & 7] ?? 16;
  }

  arrive(buffer) {
    this.wire.push(buffer);
    if (!this.rxBusy) {
      this.rxBusy = true;
      this.rxAlarm.schedule(this.frameNanos);
    }
  }

  rxDone() {
    const chunk = this.wire[0];
    const byte = chunk[this.wireOffset++];
    if (this.wireOffset >= chunk.length) {
      this.wire.shift();
      this.wireOffset = 0;
    }
    this.rxBytes++;
    if (!this.uart.enabled || !this.uart.rxEnabled) {
      // the line is not listened to: the byte is gone without a trace in the FIFO
    } else if (this.rx.length >= this.rxCapacity) {
      this.overruns++;
      this.rxOverrun = true;
      this.setInt(INT_OE);
    } else {
      this.rx.push(byte);
      if (this.rx.length >= this.rxTrigger) this.setInt(INT_RX);
      this.rtAlarm.schedule((32 * 1e9) / this.baud);
    }
    if (this.wire.length) this.rxAlarm.schedule(this.frameNanos);
    else this.rxBusy = false;
  }

  rxTimeout() {
    if (this.rx.length) this.setInt(INT_RT);
  }

  readData() {
    if (!this.rx.length) return 0;
    let value = this.rx.shift();
    if (this.rxOverrun) {
      value |= DR_OE;
      this.rxOverrun = false;
    }
    let clear = 0;
    if (this.rx.length < this.rxTrigger) clear |= INT_RX;
    if (!this.rx.length) clear |= INT_RT;
    else this.rtAlarm.schedule((32 * 1e9) / this.baud); // the timeout counts from the last read
    if (clear) this.clearInt(clear);
    return value;
  }
}
