// Preloaded into a service process under test (NODE_OPTIONS="--expose-gc --require <this file>"): SIGUSR2 runs a
// full garbage collection and then prints a line saying so, so a test can read the live size of the heap from
// /metrics rather than a figure that includes however much garbage V8 has not collected yet.
let collections = 0;
process.on('SIGUSR2', () => {
  if (global.gc) global.gc();
  process.stdout.write(`gc-on-signal: collection ${++collections} done\n`);
});
