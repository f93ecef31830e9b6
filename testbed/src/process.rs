//! Child-process hygiene for harnesses that spawn servers (Envoy) from tests.

use std::io;
use std::process::Command;

/// Makes the spawned child receive SIGKILL when the thread that spawned it exits.
///
/// A test that panics or is killed would otherwise leave Envoy running, holding ports and CPU
/// for the rest of the suite. Linux delivers the signal when the spawning *thread* ends, which
/// for a test is exactly the test's lifetime.
pub fn kill_with_parent(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: getpid is async-signal-safe and runs before fork.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and only calls prctl and
    // getppid, which are async-signal-safe; it allocates nothing unless it fails.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect; then nobody would kill us.
            if libc::getppid() != parent {
                return Err(io::Error::other("parent exited before exec"));
            }
            Ok(())
        })
    }
}
