// Process helpers of the root fault tests.

/** Whether process `pid` exists (one of another user's counts: signalling it is refused, not missing). */
export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}
