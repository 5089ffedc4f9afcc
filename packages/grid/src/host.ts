/**
 * Whether a process with this pid exists on this host (EPERM: it exists, owned by someone else). Used to tell
 * a sweep's dead writer or coordinator from a live one when both run on this host.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
