// Preloaded into a service process under test (NODE_OPTIONS="--expose-gc --require <this file>"): SIGUSR2 runs a
// full garbage collection, so a test can read the live size of the heap from /metrics rather than a figure that
// includes however much garbage V8 has not collected yet.
process.on('SIGUSR2', () => global.gc && global.gc());
