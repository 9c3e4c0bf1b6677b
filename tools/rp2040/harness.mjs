// An emulated Raspberry Pi Pico (rp2040js) running a MicroPython rp2 firmware image, wired to
// the virtual Quectel module the way boards/rpi_pico.py wires a real one:
//
//   USB CDC REPL  -> a TCP server on loopback; mpremote connects with socket://127.0.0.1:PORT
//   UART0 GP0/GP1 -> TCP client of the module's UART port, bytes paced at the UART's baud rate
//                    in simulated time both ways; the PL011's 32-byte receive FIFO drops (and
//                    counts) what arrives while it is full, as the chip does without flow control
//   GP2 PWRKEY, GP3 RESET, GP4 DTR (outputs), GP5 STATUS, GP6 RI (inputs)
//                 -> the module's pin channel, which carries levels at the module's pins: PWRKEY
//                    and RESET go through inverting NPN transistors, DTR/STATUS/RI do not
//
// Simulated time never runs ahead of real time (times --speed): the module on the other end of
// the sockets lives in real time, and a board waiting for its answer must not see its timeouts
// expire in a burst of skipped idle time. When the emulator is slower than the chip, simulated
// time falls behind real time instead, which only makes the module look quicker.
//
// Flash program/erase go through the bootrom's functions, which flash.mjs carries out on the
// emulated flash, so MicroPython's filesystem (and mpremote cp) works.
//
// Reports are JSON lines on stdout: {"event": "ready", "repl": URL} once listening,
// {"event": "usb"} once the board's USB CDC is enumerated (mpremote can connect), and
// {"event": "stats"} on the stdin command "stats", on SIGUSR1, whenever the board prints a line
// "@@stats LABEL" on its REPL (with "label": the board marks the instants it wants measured),
// and at exit ("exit"). The stdin command "reset" zeroes the counters; "quit" (or SIGTERM,
// SIGINT, or stdin closing) ends the run.

import fs from 'node:fs';
import net from 'node:net';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { GPIOPinState, LogLevel, ConsoleLogger, Simulator, USBCDC } from 'rp2040js';
import { PacedUART } from './uart.mjs';
import { loadFirmware } from './image.mjs';
import { emulateFlashWrites } from './flash.mjs';

const { values: opts } = parseArgs({
  options: {
    firmware: { type: 'string', default: process.env.RP2040_FIRMWARE },
    bootrom: { type: 'string', default: process.env.RP2040_BOOTROM },
    uart: { type: 'string' }, // HOST:PORT of the module's UART (omitted: UART0 unwired)
    pins: { type: 'string' }, // HOST:PORT of the module's pin channel (omitted: pins unwired)
    'repl-port': { type: 'string', default: '0' },
    speed: { type: 'string', default: '1' }, // simulated/real time cap; 0 = no cap
  },
});

function die(msg) {
  process.stderr.write(`rp2040 harness: ${msg}\n`);
  process.exit(2);
}

function hostPort(text) {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i) || '127.0.0.1', port: Number(text.slice(i + 1)) };
}

if (!opts.firmware || !fs.existsSync(opts.firmware)) {
  die('no firmware image: set RP2040_FIRMWARE (or --firmware) to a MicroPython rp2 .uf2/.bin/.elf');
}
if (!opts.bootrom || !fs.existsSync(opts.bootrom)) {
  die('no bootrom: set RP2040_BOOTROM (or --bootrom) to the 16 KB RP2040 bootrom binary');
}

const simulator = new Simulator();
const mcu = simulator.rp2040;
const { clock } = simulator;
mcu.logger = new ConsoleLogger(LogLevel.Error);
const rom = fs.readFileSync(opts.bootrom);
mcu.loadBootrom(new Uint32Array(rom.buffer, rom.byteOffset, rom.byteLength >> 2));
loadFirmware(opts.firmware, mcu.flash);
emulateFlashWrites(mcu);

const stats = { busyCycles: 0, startNanos: 0 };
const uart0 = new PacedUART(mcu, mcu.uart[0], clock);

function report(event, extra = {}) {
  const simNanos = clock.nanos - stats.startNanos;
  const cycles = (simNanos * mcu.clkSys) / 1e9;
  const line = {
    event,
    ...extra,
    sim_s: simNanos / 1e9,
    busy_cycles: stats.busyCycles,
    busy_pct: cycles ? (100 * stats.busyCycles) / cycles : 0,
    clk_sys_hz: mcu.clkSys,
    baud: uart0.baud,
    uart_tx_bytes: uart0.txBytes,
    uart_rx_bytes: uart0.rxBytes,
    uart_overrun: uart0.overruns,
  };
  process.stdout.write(JSON.stringify(line) + '\n');
}

function resetStats() {
  stats.busyCycles = 0;
  stats.startNanos = clock.nanos;
  uart0.resetCounters();
}

// --- USB CDC REPL on a loopback TCP port -------------------------------------------------------
const cdc = new USBCDC(mcu.usbCtrl);
const CDC_FIFO = cdc.txFIFO.size; // USBCDC drops what does not fit: feed it as it drains
let replClient = null;
let replPending = [];
let markLine = '';

cdc.onDeviceConnected = () => report('usb'); // enumerated: the REPL is there
cdc.onSerialData = (data) => {
  if (replClient) replClient.write(Buffer.from(data));
  for (const byte of data) {
    if (byte === 10) {
      const m = /@@stats (\S*)/.exec(markLine);
      if (m) report('stats', { label: m[1] });
      markLine = '';
    } else if (markLine.length < 200) {
      markLine += String.fromCharCode(byte);
    }
  }
};

// rp2040js's host answers every OUT transfer the firmware arms at once, with a zero-length
// packet when it has nothing: an endless stream of USB interrupts no real host causes (it NAKs,
// which costs the chip no CPU). Hold the transfer until there are bytes to send.
let pendingOut = null;
mcu.usbCtrl.onEndpointRead = (endpoint, size) => {
  if (endpoint !== cdc.outEndpoint) return;
  pendingOut = size;
  serveOut();
};

function serveOut() {
  if (pendingOut === null || cdc.txFIFO.empty) return;
  const data = new Uint8Array(Math.min(pendingOut, cdc.txFIFO.itemCount));
  for (let i = 0; i < data.length; i++) data[i] = cdc.txFIFO.pull();
  pendingOut = null;
  mcu.usbCtrl.endpointReadDone(cdc.outEndpoint, data);
}

function feedRepl() {
  while (replPending.length && cdc.txFIFO.itemCount < CDC_FIFO) {
    const chunk = replPending[0];
    const room = CDC_FIFO - cdc.txFIFO.itemCount;
    const n = Math.min(room, chunk.length);
    for (let i = 0; i < n; i++) cdc.sendSerialByte(chunk[i]);
    if (n === chunk.length) replPending.shift();
    else replPending[0] = chunk.subarray(n);
  }
  serveOut();
}

const replServer = net.createServer((sock) => {
  if (replClient) replClient.destroy();
  replClient = sock;
  replPending = [];
  sock.setNoDelay(true);
  sock.on('data', (d) => {
    replPending.push(d);
    wake();
  });
  sock.on('close', () => {
    if (replClient === sock) replClient = null;
  });
  sock.on('error', () => {});
});

// --- pins ---------------------------------------------------------------------------------------
const OUT_PINS = [
  ['PWRKEY', 2, true], // NPN: a high GPIO pulls the module's PWRKEY low
  ['RESET', 3, true],
  ['DTR', 4, false],
];
const IN_PINS = { STATUS: 5, RI: 6 };
let pinSock = null;

function moduleLevel(state, inverted) {
  // An undriven GPIO leaves the transistor off (module pin pulled high) and DTR floating high.
  const high = state === GPIOPinState.High;
  const driven = state === GPIOPinState.High || state === GPIOPinState.Low;
  if (inverted) return high ? 0 : 1;
  return driven ? (high ? 1 : 0) : 1;
}

const lastSent = {};
function sendPin(name, level) {
  if (lastSent[name] === level) return;
  lastSent[name] = level;
  if (pinSock) pinSock.write(`${name} ${level}\n`);
}

for (const [name, gpio, inverted] of OUT_PINS) {
  mcu.gpio[gpio].addListener((state) => sendPin(name, moduleLevel(state, inverted)));
}
mcu.gpio[IN_PINS.RI].setInputValue(true);

function connectPins(target) {
  const { host, port } = hostPort(target);
  const sock = net.connect(port, host, () => {
    pinSock = sock;
    for (const [name, gpio, inverted] of OUT_PINS) {
      delete lastSent[name];
      sendPin(name, moduleLevel(mcu.gpio[gpio].lastValue ?? GPIOPinState.Input, inverted));
    }
  });
  let buf = '';
  sock.setNoDelay(true);
  sock.on('data', (d) => {
    buf += d.toString('latin1');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const [name, level] = buf.slice(0, i).trim().toUpperCase().split(/\s+/);
      buf = buf.slice(i + 1);
      if (name in IN_PINS) mcu.gpio[IN_PINS[name]].setInputValue(level === '1');
    }
    wake();
  });
  sock.on('error', (e) => die(`pin channel ${target}: ${e.message}`));
  sock.on('close', () => {
    pinSock = null;
  });
}

// --- UART0 to the module -----------------------------------------------------------------------
function connectUART(target) {
  const { host, port } = hostPort(target);
  const sock = net.connect(port, host);
  sock.setNoDelay(true);
  uart0.onWire = (bytes) => sock.write(bytes);
  sock.on('data', (d) => {
    uart0.arrive(d);
    wake();
  });
  sock.on('error', (e) => die(`UART ${target}: ${e.message}`));
  sock.on('close', () => {
    uart0.onWire = null;
  });
}

// --- the run loop -------------------------------------------------------------------------------
const speed = Number(opts.speed);
const SLICE_MS = 10;
const NAP_MS = 5;
let running = true;
let realStart = 0;
let napTimer = null;

let inputSeen = false; // the host's pending input was taken in since the core went to sleep
let sleptAt = null; // [simulated ns, real ms] when the core went to sleep

function runSlice() {
  if (!running) return;
  const { core } = mcu;
  const sliceEnd = performance.now() + SLICE_MS;
  const limit = speed > 0 ? (performance.now() - realStart) * 1e6 * speed : Infinity;
  feedRepl();
  while (performance.now() < sliceEnd && clock.nanos < limit) {
    const cycleNanos = 1e9 / mcu.clkSys;
    for (let i = 0; i < 20000; i++) {
      if (core.waiting) {
        if (!inputSeen) {
          // Before sleeping through simulated time up to the next alarm, let the host deliver
          // what arrived meanwhile in real time (UART bytes, pins): it would wake the core
          // earlier, and jumping first would make the board see it late.
          inputSeen = true;
          sleptAt = sleptAt || [clock.nanos, performance.now()];
          setImmediate(runSlice);
          return;
        }
        // A sleep lasts in simulated time what it lasts in real time: a core that lags behind
        // real time must not sleep through its catching up, or an answer the module gives
        // 1 ms (real) after our command would reach it after its whole timeout.
        const awakeAt = sleptAt[0] + (performance.now() - sleptAt[1]) * 1e6 * speed;
        const until = Math.min(limit, awakeAt);
        const idle = clock.nanosToNextAlarm;
        if (idle <= 0 || clock.nanos + idle > until) {
          // nothing scheduled, or not due yet in real time: let the host catch up
          if (clock.nanos < until) clock.tick(Math.min(until - clock.nanos, 1e6));
          break;
        }
        clock.tick(idle);
      } else {
        inputSeen = false;
        sleptAt = null;
        const cycles = core.executeInstruction();
        stats.busyCycles += cycles;
        clock.tick(cycles * cycleNanos);
      }
    }
    feedRepl();
  }
  if (core.waiting && clock.nanos >= limit) {
    // Asleep and level with real time: the host sleeps too, until the next alarm is due or
    // input arrives (wake), instead of spinning on a shared machine.
    const due = clock.nanosToNextAlarm > 0 ? clock.nanosToNextAlarm / 1e6 / speed : NAP_MS;
    napTimer = setTimeout(awake, Math.max(1, Math.min(due, NAP_MS)));
  } else {
    setImmediate(runSlice);
  }
}

function awake() {
  napTimer = null;
  runSlice();
}

function wake() {
  if (napTimer) {
    clearTimeout(napTimer);
    napTimer = null;
    setImmediate(runSlice);
  }
}

function finish() {
  if (!running) return;
  running = false;
  report('exit');
  process.exit(0);
}

process.on('SIGTERM', finish);
process.on('SIGINT', finish);
process.on('SIGUSR1', () => report('stats'));
process.stdin.setEncoding('utf8');
let stdinBuf = '';
process.stdin.on('data', (d) => {
  stdinBuf += d;
  let i;
  while ((i = stdinBuf.indexOf('\n')) >= 0) {
    const cmd = stdinBuf.slice(0, i).trim();
    stdinBuf = stdinBuf.slice(i + 1);
    if (cmd === 'stats') report('stats');
    else if (cmd === 'reset') resetStats();
    else if (cmd === 'quit') finish();
  }
});
process.stdin.on('end', finish);

replServer.listen(Number(opts['repl-port']), '127.0.0.1', () => {
  if (opts.uart) connectUART(opts.uart);
  if (opts.pins) connectPins(opts.pins);
  const port = replServer.address().port;
  process.stdout.write(
    JSON.stringify({ event: 'ready', repl: `socket://127.0.0.1:${port}` }) + '\n',
  );
  mcu.core.PC = 0x10000000;
  realStart = performance.now();
  runSlice();
});
