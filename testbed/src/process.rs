//! Child-process hygiene for harnesses that spawn servers (Envoy) from tests.
//!
//! A test that panics or is killed would otherwise leave Envoy running, holding ports and CPU
//! for the rest of the suite, so children are made to die with the test process.

use std::io;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread;

/// Makes the spawned child receive SIGKILL when the thread that spawns it exits.
///
/// Linux ties `PR_SET_PDEATHSIG` to the spawning *thread*, not the process; use
/// [`spawn_tied_to_process`] when the child may outlive the calling thread (for example an
/// Envoy shared by several tests, each of which libtest runs on its own thread).
pub fn kill_with_parent(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and only calls prctl and
    // getppid, which are async-signal-safe, and builds errors without allocating.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect; then nobody would kill us.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    }
}

/// A spawn request for the spawner thread and where to send the result.
type SpawnJob = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `command` so that it is SIGKILLed when this process dies, however it dies, while
/// leaving normal shutdown to the caller (kill and wait the returned [`Child`]).
///
/// The spawn happens on a dedicated thread that lives as long as the process, so the death
/// signal is not fired early when the calling thread (say, one test) finishes.
pub fn spawn_tied_to_process(mut command: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Option<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (jobs, incoming) = mpsc::channel::<SpawnJob>();
        thread::Builder::new()
            .name("child-spawner".to_owned())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            .ok()
            .map(|_| jobs)
    });
    let spawner = spawner
        .as_ref()
        .ok_or_else(|| io::Error::other("could not start the child-spawner thread"))?;
    kill_with_parent(&mut command);
    let (reply, result) = mpsc::channel();
    spawner
        .send((command, reply))
        .map_err(|_| io::Error::other("child-spawner thread is gone"))?;
    result
        .recv()
        .map_err(|_| io::Error::other("child-spawner thread dropped the request"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_survives_the_spawning_thread_and_is_reaped_normally() {
        let mut child = thread::spawn(|| {
            let mut command = Command::new("sleep");
            command.arg("30");
            spawn_tied_to_process(command).unwrap()
        })
        .join()
        .unwrap();
        thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            child.try_wait().unwrap().is_none(),
            "child died with its spawning thread"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
