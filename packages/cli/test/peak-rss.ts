/**
 * Preloaded (`node --import`) into a process whose peak memory a test measures: at exit it writes the
 * process's peak resident set size in bytes to stderr as `peak-rss <bytes>`.
 */
process.on('exit', () => {
  process.stderr.write(`peak-rss ${process.resourceUsage().maxRSS * 1024}\n`);
});
