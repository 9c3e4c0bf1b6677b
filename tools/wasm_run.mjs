// Runs MicroPython code on an official WebAssembly build from npm
// (@micropython/micropython-webassembly-pyscript, installed by tools/wasm_setup.sh).
//
//   node tools/wasm_run.mjs --port DIR [--heap BYTES] [--tree HOST:VFS]... [--path VFS]...
//        [--step CODE]... [--script FILE [ARG]...]
//
// --port   the package's directory (holds micropython.mjs and micropython.wasm)
// --tree   copy a host directory's .py and .mpy files (recursively) into the virtual FS
// --path   a virtual FS directory for sys.path (in order, before the built-in entries)
// --script run FILE as __main__ with sys.argv = [FILE, ARG...]
// --step   run each CODE as its own top-level call, in order, after the script if there is
//          one (whose globals they share): the port collects garbage
//          only between top-level calls (its C stack is not scanned), so a heap reading
//          that must follow a gc.collect() belongs in a step of its own
//
// Prints what the code prints. Exit status: the code's SystemExit status, 1 for an uncaught
// exception (its message on stderr), 2 for a usage error.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

function usage(msg) {
  process.stderr.write(`wasm_run: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { heap: 1024 * 1024, trees: [], paths: [], steps: [], script: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : usage(`${arg} needs a value`));
    if (arg === "--port") opts.port = value();
    else if (arg === "--heap") opts.heap = parseInt(value(), 10);
    else if (arg === "--tree") opts.trees.push(value().split(":"));
    else if (arg === "--path") opts.paths.push(value());
    else if (arg === "--script") {
      opts.script = value();
      opts.argv = argv.slice(i + 1);
      break;
    } else if (arg === "--step") opts.steps.push(value());
    else usage(`unknown argument ${arg}`);
  }
  if (!opts.port) usage("--port is required");
  if (!opts.script && !opts.steps.length) usage("--script or --step is required");
  return opts;
}

function mkdirs(FS, dir) {
  let at = "";
  for (const part of dir.split("/").filter(Boolean)) {
    at += "/" + part;
    try {
      FS.mkdir(at);
    } catch {
      // exists already
    }
  }
}

function copyTree(FS, hostDir, vfsDir) {
  mkdirs(FS, vfsDir);
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    const host = path.join(hostDir, entry.name);
    const vfs = `${vfsDir}/${entry.name}`;
    if (entry.isDirectory()) copyTree(FS, host, vfs);
    else if (/\.m?py$/.test(entry.name)) FS.writeFile(vfs, fs.readFileSync(host));
  }
}

const opts = parseArgs(process.argv.slice(2));
const { loadMicroPython } = await import(
  pathToFileURL(path.resolve(opts.port, "micropython.mjs")).href
);
const mp = await loadMicroPython({
  heapsize: opts.heap,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
for (const [host, vfs] of opts.trees) copyTree(mp.FS, host, vfs);

const prelude = `import sys\nsys.path[:0] = ${JSON.stringify(opts.paths)}`;

function run(code) {
  try {
    mp.runPython(code);
    return 0;
  } catch (error) {
    if (error.name !== "PythonError") throw error;
    if (error.type === "SystemExit") {
      const status = /SystemExit: (\d+)/.exec(error.message);
      return status ? parseInt(status[1], 10) : 0;
    }
    process.stderr.write(error.message + "\n");
    return 1;
  }
}

let status = run(prelude);
if (status === 0 && opts.script) {
  mkdirs(mp.FS, "/run");
  mp.FS.writeFile("/run/__main__.py", fs.readFileSync(opts.script));
  const args = JSON.stringify([opts.script, ...opts.argv]);
  status = run(`sys.argv[:] = ${args}\nexec(open("/run/__main__.py").read())`);
}
for (const step of opts.steps) {
  if (status !== 0) break;
  status = run(step);
}
process.exit(status);
