//! Cross-process tests of the wire: real POSIX shared memory, real
//! semaphores, real processes (this binary re-executed in a role), real
//! SIGKILL. Each test has its own shared-memory prefix and checks that it
//! leaves nothing in /dev/shm.

mod common;

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use common::*;
use framewire::wire::hook::{self, HookPoint};
use framewire::wire::{self, Expect, FrameMeta, Policy, Reader, WireConfig, WireError, Writer};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

const ENTRY: &str = "child_entry";

/// Entry point of the child processes; a no-op when run as a normal test.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var("FW_ROLE") else { return };
    let name: String = env("FW_WIRE");
    match role.as_str() {
        "reader" => role_reader(&name),
        "writer" => role_writer(&name),
        "holder" => role_holder(&name),
        "slow_writer" => role_slow_writer(&name),
        "create_big" => role_create_big(&name),
        "sweeper" => role_sweeper(&name),
        "hook_writer" => role_hook_writer(&name),
        "stress_reader" => role_stress_reader(&name),
        "stress_sweeper" => role_stress_sweeper(&name),
        "stress_writer" => role_stress_writer(&name),
        r => panic!("unknown role {r}"),
    }
    std::process::exit(0);
}

/// Reads FW_FRAMES frames, sleeping a random 0..FW_MAX_US µs between reads
/// (after FW_START_DELAY_MS), checking order and checksums.
fn role_reader(name: &str) {
    let frames: u64 = env("FW_FRAMES");
    let max_us: u64 = env("FW_MAX_US");
    let start_delay: u64 = env("FW_START_DELAY_MS");
    let mut r = Reader::attach(name, &Expect::default()).unwrap();
    println!("ATTACHED");
    std::thread::sleep(Duration::from_millis(start_delay));
    let mut rng = std::process::id() as u64 | 1;
    for want in 1..=frames {
        let g = r.read(Duration::from_secs(20)).unwrap_or_else(|| panic!("timed out waiting for frame {want}"));
        assert_eq!(g.meta().seq, want, "frames out of order or lost");
        let seed = check_frame(&g).unwrap();
        assert_eq!(seed, want, "payload does not belong to its sequence number");
        drop(g);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        if max_us > 0 {
            std::thread::sleep(Duration::from_micros(rng % max_us));
        }
    }
    println!("OK {frames}");
}

/// Writes FW_FRAMES frames of FW_LEN bytes.
fn role_writer(name: &str) {
    let frames: u64 = env("FW_FRAMES");
    let len: usize = env("FW_LEN");
    let mut w = Writer::attach(name, &Expect::default()).unwrap();
    for _ in 0..frames {
        let seq = w.next_seq();
        let mut loan = w.loan(Duration::from_secs(20)).unwrap();
        loan.meta.len = fill_frame(&mut loan.bytes()[..len], seq);
        assert_eq!(loan.commit().unwrap(), seq);
    }
    println!("OK {frames}");
}

/// Arms the test hook named by FW_HOOK, if set.
fn arm_hook_from_env() {
    let Ok(h) = std::env::var("FW_HOOK") else { return };
    let point = match h.as_str() {
        "ReaderLocked" => HookPoint::ReaderLocked,
        "ReaderClaiming" => HookPoint::ReaderClaiming,
        "SweepLocked" => HookPoint::SweepLocked,
        "SweepCleared" => HookPoint::SweepCleared,
        "WriterLocked" => HookPoint::WriterLocked,
        h => panic!("unknown hook {h}"),
    };
    hook::stop_at(point);
}

/// Takes one frame and holds its guard until stdin says go, then checks it
/// was not overwritten meanwhile. Stops at FW_HOOK while attaching, if set.
fn role_holder(name: &str) {
    arm_hook_from_env();
    let mut r = Reader::attach(name, &Expect::default()).unwrap();
    println!("ATTACHED");
    let g = r.read(Duration::from_secs(20)).expect("a frame");
    let before = check_frame(&g).unwrap();
    println!("HOLDING {}", g.meta().seq);
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let after = check_frame(&g).unwrap();
    assert_eq!(before, after, "held frame was overwritten");
    println!("OK held {before}");
}

/// Reclaims what dead processes hold, stopping at FW_HOOK if set.
fn role_sweeper(name: &str) {
    arm_hook_from_env();
    let got = wire::reclaim_dead(name).unwrap();
    println!("SWEPT {} {}", got.readers, got.writer);
}

/// Attaches as the writer, stopping at FW_HOOK if set, then commits
/// FW_FRAMES frames.
fn role_hook_writer(name: &str) {
    arm_hook_from_env();
    let mut w = Writer::attach(name, &Expect::default()).unwrap();
    println!("WRITER from {}", w.next_seq());
    let frames: u64 = env("FW_FRAMES");
    for _ in 0..frames {
        let seq = w.next_seq();
        let mut loan = w.loan(Duration::from_secs(20)).unwrap();
        loan.meta.len = fill_frame(loan.bytes(), seq);
        loan.commit().unwrap();
    }
    println!("OK {frames}");
}

/// Writes frames forever, filling each slowly in chunks so that a SIGKILL
/// lands mid-write.
fn role_slow_writer(name: &str) {
    let len: usize = env("FW_LEN");
    let mut w = Writer::attach(name, &Expect::default()).unwrap();
    println!("WRITING from {}", w.next_seq());
    loop {
        let seq = w.next_seq();
        let mut scratch = vec![0u8; len];
        fill_frame(&mut scratch, seq);
        let mut loan = w.loan(Duration::from_secs(20)).unwrap();
        for (i, chunk) in scratch.chunks(len / 8).enumerate() {
            loan.bytes()[i * (len / 8)..][..chunk.len()].copy_from_slice(chunk);
            std::thread::sleep(Duration::from_micros(300));
        }
        loan.meta.len = len;
        loan.commit().unwrap();
    }
}

/// Creates a 16 MiB wire (in a test-mounted 8 MiB /dev/shm) and prints the error.
fn role_create_big(name: &str) {
    let cfg = WireConfig::new(4 << 20, 4, 1, Policy::Queue);
    match wire::create(name, &cfg) {
        Ok(()) => println!("CREATED"),
        Err(e) => println!("ERROR {e}"),
    }
    let left = std::fs::read_dir("/dev/shm").unwrap().count();
    println!("LEFT {left}");
}

fn queue_wire(p: &Prefix, slot: u64, slots: u32, readers: u32) -> String {
    let name = p.wire("t", "src.out");
    wire::create(&name, &WireConfig::new(slot, slots, readers, Policy::Queue)).unwrap();
    name
}

fn wait_readers(name: &str, n: usize) {
    let t = Instant::now();
    while wire::inspect(name).unwrap().readers.len() < n {
        assert!(t.elapsed() < Duration::from_secs(20), "readers did not attach");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn queue_three_readers_at_random_speeds_get_every_frame_in_order() {
    let p = Prefix::new();
    let name = queue_wire(&p, 64 * 1024, 4, 3);
    let frames = 1500u64;
    let readers: Vec<_> = [0u64, 150, 400]
        .iter()
        .map(|max_us| {
            spawn_role(
                ENTRY,
                "reader",
                &[
                    ("FW_WIRE", name.clone()),
                    ("FW_FRAMES", frames.to_string()),
                    ("FW_MAX_US", max_us.to_string()),
                    ("FW_START_DELAY_MS", "0".into()),
                ],
            )
        })
        .collect();
    wait_readers(&name, 3);
    let writer = spawn_role(
        ENTRY,
        "writer",
        &[("FW_WIRE", name.clone()), ("FW_FRAMES", frames.to_string()), ("FW_LEN", (64 * 1024).to_string())],
    );
    assert!(finish(writer).contains("OK 1500"));
    for r in readers {
        assert!(finish(r).contains("OK 1500"));
    }
    let st = wire::inspect(&name).unwrap();
    assert_eq!(st.frames_written, frames);
    wire::unlink(&name).unwrap();
}

#[test]
fn queue_is_lossless_from_the_first_frame_even_if_readers_start_late() {
    let p = Prefix::new();
    let name = queue_wire(&p, 4096, 2, 2);
    // Readers attach, then wait half a second before their first read while
    // the writer starts at once: the writer must wait for them, not drop.
    let readers: Vec<_> = (0..2)
        .map(|_| {
            spawn_role(
                ENTRY,
                "reader",
                &[
                    ("FW_WIRE", name.clone()),
                    ("FW_FRAMES", "50".into()),
                    ("FW_MAX_US", "0".into()),
                    ("FW_START_DELAY_MS", "500".into()),
                ],
            )
        })
        .collect();
    wait_readers(&name, 2);
    let writer = spawn_role(
        ENTRY,
        "writer",
        &[("FW_WIRE", name.clone()), ("FW_FRAMES", "50".into()), ("FW_LEN", "4096".into())],
    );
    assert!(finish(writer).contains("OK 50"));
    for r in readers {
        assert!(finish(r).contains("OK 50"));
    }
    wire::unlink(&name).unwrap();
}

#[test]
fn latest_stalled_reader_never_slows_writer_and_fast_reader_gets_newest() {
    let p = Prefix::new();
    let name = p.wire("t", "cam.frames");
    wire::create(&name, &WireConfig::new(8192, 4, 2, Policy::Latest)).unwrap();
    let mut w = Writer::attach(&name, &Expect::default()).unwrap();
    let commit = |w: &mut Writer| {
        let seq = w.next_seq();
        // A zero timeout: with policy latest the writer must never wait.
        let mut loan = w.loan(Duration::ZERO).expect("latest writer had to wait");
        loan.meta.len = fill_frame(loan.bytes(), seq);
        loan.commit().unwrap()
    };
    commit(&mut w);
    // A stalled reader in another process holds a guard on frame 1.
    let mut holder = spawn_role(ENTRY, "holder", &[("FW_WIRE", name.clone())]);
    let mut out = BufReader::new(holder.stdout.take().unwrap());
    wait_line(&mut out, "HOLDING");
    let mut fast = Reader::attach(&name, &Expect::default()).unwrap();
    for i in 0..2000u64 {
        let seq = commit(&mut w);
        if i % 100 == 0 {
            // The fast reader always gets the newest committed frame.
            let g = fast.try_read().expect("a frame");
            assert_eq!(g.meta().seq, seq);
            assert_eq!(check_frame(&g).unwrap(), seq);
            if i > 0 {
                assert_eq!(g.skipped(), 99, "skips are counted");
            }
        }
    }
    // The held frame is intact after 2000 commits around it.
    holder.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    assert_eq!(wait_line(&mut out, "OK held"), "OK held 1");
    assert!(holder.wait().unwrap().success());
    drop((fast, w));
    wire::unlink(&name).unwrap();
}

#[test]
fn reader_killed_while_holding_a_guard_does_not_pin_its_slot() {
    let p = Prefix::new();
    let name = queue_wire(&p, 4096, 3, 1);
    let mut w = Writer::attach(&name, &Expect::default()).unwrap();
    let mut holder = spawn_role(ENTRY, "holder", &[("FW_WIRE", name.clone())]);
    let mut out = BufReader::new(holder.stdout.take().unwrap());
    wait_line(&mut out, "ATTACHED");
    let put = |w: &mut Writer, timeout| -> Result<u64, WireError> {
        let seq = w.next_seq();
        let mut loan = w.loan(timeout)?;
        loan.meta.len = fill_frame(loan.bytes(), seq);
        loan.commit()
    };
    for _ in 0..3 {
        put(&mut w, Duration::from_secs(5)).unwrap();
    }
    assert_eq!(wait_line(&mut out, "HOLDING"), "HOLDING 1");
    // The ring is full and the reader holds frame 1: the queue writer waits.
    assert!(matches!(put(&mut w, Duration::from_millis(100)), Err(WireError::Full { .. })));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(holder.id() as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    holder.wait().unwrap();
    // The writer notices the dead reader while it waits and carries on.
    let t = Instant::now();
    for _ in 0..10 {
        put(&mut w, Duration::from_secs(5)).expect("writer stuck behind a dead reader");
    }
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(wire::inspect(&name).unwrap().readers.is_empty(), "dead reader entry reclaimed");
    // A restarted reader takes the freed entry and reads on, in order.
    let next = w.next_seq();
    let mut reader = spawn_role(ENTRY, "holder", &[("FW_WIRE", name.clone())]);
    let mut out = BufReader::new(reader.stdout.take().unwrap());
    wait_line(&mut out, "ATTACHED");
    put(&mut w, Duration::from_secs(5)).unwrap();
    assert_eq!(wait_line(&mut out, "HOLDING"), format!("HOLDING {next}"));
    reader.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    assert_eq!(wait_line(&mut out, "OK held"), format!("OK held {next}"));
    assert!(reader.wait().unwrap().success());
    drop(w);
    wire::unlink(&name).unwrap();
}

#[test]
fn writer_killed_mid_write_never_exposes_a_torn_frame_and_a_new_writer_continues() {
    let p = Prefix::new();
    let name = p.wire("t", "cam.frames");
    let len = 256 * 1024;
    wire::create(&name, &WireConfig::new(len as u64, 4, 2, Policy::Latest)).unwrap();
    let mut r = Reader::attach(&name, &Expect::default()).unwrap();
    let envs = [("FW_WIRE", name.clone()), ("FW_LEN", len.to_string())];
    let mut last = 0u64;
    let mut frames = 0;
    for round in 0..3 {
        let mut writer = spawn_role(ENTRY, "slow_writer", &envs);
        let mut out = BufReader::new(writer.stdout.take().unwrap());
        let first: u64 = wait_line(&mut out, "WRITING from").rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(first, last + 1, "round {round}: a restarted writer carries on the sequence");
        let t = Instant::now();
        // Read for a while, then kill the writer at an arbitrary point of its
        // chunked fill; every frame seen must be whole.
        while t.elapsed() < Duration::from_millis(300 + 37 * round) {
            if let Some(g) = r.read(Duration::from_millis(50)) {
                let seed = check_frame(&g).unwrap();
                assert_eq!(seed, g.meta().seq);
                assert!(g.meta().seq > last, "sequence numbers increase");
                last = g.meta().seq;
                frames += 1;
            }
        }
        writer.kill().unwrap();
        writer.wait().unwrap();
        while let Some(g) = r.read(Duration::from_millis(50)) {
            check_frame(&g).unwrap();
            last = g.meta().seq;
        }
        last = last.max(wire::inspect(&name).unwrap().committed);
    }
    assert!(frames > 3, "frames flowed ({frames})");
    drop(r);
    wire::unlink(&name).unwrap();
}

#[test]
fn too_small_dev_shm_fails_at_creation_with_a_clear_error() {
    if !nix::unistd::geteuid().is_root() || std::process::Command::new("unshare").arg("--version").output().is_err() {
        common::skip(
            "too_small_dev_shm_fails_at_creation_with_a_clear_error",
            "root",
            "needs root and unshare(1) to mount a private small /dev/shm",
        );
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let script = format!(
        "mount -t tmpfs -o size=8m tmpfs /dev/shm && exec {} {ENTRY} --exact --nocapture --test-threads=1 -q",
        exe.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("FW_ROLE", "create_big")
        .env("FW_WIRE", "framewire-big.t.a.b")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() && text.is_empty() {
        common::skip(
            "too_small_dev_shm_fails_at_creation_with_a_clear_error",
            "root",
            &format!("cannot mount a private tmpfs here: {}", String::from_utf8_lossy(&out.stderr)),
        );
        return;
    }
    assert!(text.contains("ERROR wire framewire-big.t.a.b needs 16"), "{text}");
    assert!(text.contains("MiB) free"), "{text}");
    assert!(text.contains("LEFT 0"), "a failed creation leaves nothing behind: {text}");
}

#[test]
fn purge_removes_only_this_pipelines_segments() {
    let p = Prefix::new();
    let cfg = WireConfig::new(64, 2, 1, Policy::Queue);
    let names = [p.wire("a", "x.y"), p.wire("a", "z.w"), p.wire("ab", "x.y"), p.wire("b", "x.y")];
    for n in &names {
        wire::create(n, &cfg).unwrap();
    }
    let mut purged = wire::purge_pipeline(&p.name, "a").unwrap();
    purged.sort();
    assert_eq!(purged, vec![names[0].clone(), names[1].clone()]);
    assert_eq!(p.leftovers(), vec![names[2].clone(), names[3].clone()]);
    wire::purge_pipeline(&p.name, "ab").unwrap();
    wire::purge_pipeline(&p.name, "b").unwrap();
}

#[test]
fn mismatched_version_and_sizes_give_typed_errors() {
    let p = Prefix::new();
    let name = p.wire("t", "a.b");
    wire::create(&name, &WireConfig::new(1000, 2, 1, Policy::Queue)).unwrap();
    let e = Reader::attach(
        &name,
        &Expect { min_slot_size: Some(2000), policy: Some(Policy::Latest), ..Default::default() },
    )
    .err()
    .unwrap();
    let msg = e.to_string();
    assert!(matches!(e, WireError::Mismatch { .. }), "{msg}");
    assert!(msg.contains("slot size is 1000 bytes, expected at least 2000"), "{msg}");
    assert!(msg.contains("policy is queue, expected latest"), "{msg}");
    // Another layout version: rewrite the version field in place.
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(format!("/dev/shm/{name}")).unwrap();
    f.write_all_at(&99u32.to_le_bytes(), 8).unwrap();
    let e = Writer::attach(&name, &Expect::default()).err().unwrap();
    assert!(
        matches!(e, WireError::Version { found: 99, expected: framewire::wire::layout::LAYOUT_VERSION, .. }),
        "{e}"
    );
    f.write_all_at(b"NOTAWIRE", 0).unwrap();
    assert!(matches!(Reader::attach(&name, &Expect::default()), Err(WireError::NotAWire { .. })));
    wire::unlink(&name).unwrap();
    assert!(matches!(Reader::attach(&name, &Expect::default()), Err(WireError::NotFound { .. })));
}

#[test]
fn segments_are_private_by_default_and_group_readable_on_request() {
    use std::os::unix::fs::PermissionsExt;
    let p = Prefix::new();
    let a = p.wire("t", "a.b");
    let b = p.wire("t", "c.d");
    wire::create(&a, &WireConfig::new(64, 2, 1, Policy::Queue)).unwrap();
    wire::create(&b, &WireConfig { mode: 0o660, ..WireConfig::new(64, 2, 1, Policy::Queue) }).unwrap();
    let mode = |n: &str| std::fs::metadata(format!("/dev/shm/{n}")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&a), 0o600);
    assert_eq!(mode(&b), 0o660);
    wire::purge_pipeline(&p.name, "t").unwrap();
}

#[test]
fn one_writer_per_wire_and_a_reader_limit() {
    let p = Prefix::new();
    let name = queue_wire(&p, 64, 2, 1);
    let w = Writer::attach(&name, &Expect::default()).unwrap();
    assert!(matches!(Writer::attach(&name, &Expect::default()), Err(WireError::WriterBusy { .. })));
    let r = Reader::attach(&name, &Expect::default()).unwrap();
    let e = Reader::attach(&name, &Expect::default()).err().unwrap();
    assert!(e.to_string().contains("all 1 reader entries in use"), "{e}");
    drop((r, w));
    // Both places free again after a clean detach.
    let _w = Writer::attach(&name, &Expect::default()).unwrap();
    let _r = Reader::attach(&name, &Expect::default()).unwrap();
    assert!(matches!(wire::create(&name, &WireConfig::new(64, 2, 1, Policy::Queue)), Err(WireError::Exists { .. })));
    wire::unlink(&name).unwrap();
}

#[test]
fn bad_names_and_configs_are_refused() {
    assert!(wire::segment_name("framewire", "my/pipe", "a.b").is_err());
    assert!(wire::segment_name("framewire", "", "a.b").is_err());
    assert!(wire::segment_name("framewire", &"x".repeat(300), "a.b").is_err());
    assert!(wire::segment_name("framewire", "demo", "camera.frames").is_ok());
    let p = Prefix::new();
    let e = wire::create(&p.wire("t", "a.b"), &WireConfig::new(64, 3, 2, Policy::Latest)).unwrap_err();
    assert!(e.to_string().contains("use at least 4"), "{e}");
}

#[test]
fn blocking_read_wakes_on_commit_and_times_out_when_idle() {
    let p = Prefix::new();
    let name = p.wire("t", "a.b");
    wire::create(&name, &WireConfig::new(64, 3, 1, Policy::Latest)).unwrap();
    let mut r = Reader::attach(&name, &Expect::default()).unwrap();
    let t = Instant::now();
    assert!(r.read(Duration::from_millis(100)).is_none());
    assert!(t.elapsed() >= Duration::from_millis(100));
    let n2 = name.clone();
    let th = std::thread::spawn(move || {
        let mut w = Writer::attach(&n2, &Expect::default()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let mut l = w.loan(Duration::ZERO).unwrap();
        l.bytes()[..3].copy_from_slice(b"abc");
        l.meta = FrameMeta { len: 3, timestamp_ns: 42, source_seq: 7, ..Default::default() };
        l.commit().unwrap();
    });
    let g = r.read(Duration::from_secs(10)).expect("woken by the commit");
    assert_eq!(&*g, b"abc");
    assert_eq!((g.meta().seq, g.meta().timestamp_ns, g.meta().source_seq), (1, 42, 7));
    drop(g);
    th.join().unwrap();
    drop(r);
    wire::unlink(&name).unwrap();
}

// ---------------------------------------------------------------------------
// Concurrent reclaim (issue 16): a live reader never loses its slot, and
// every intermediate state of claiming and reclaiming survives a crash.
// Each test stops a real process at an exact step with a test hook
// (`framewire::wire::hook`), so the race is placed, not hoped for.

/// Waits until `c` has stopped itself at its armed hook.
fn wait_stopped(c: &std::process::Child) {
    let pid = Pid::from_raw(c.id() as i32);
    let t = Instant::now();
    loop {
        match waitpid(pid, Some(WaitPidFlag::WUNTRACED | WaitPidFlag::WNOHANG)).unwrap() {
            WaitStatus::Stopped(_, _) => return,
            WaitStatus::StillAlive => {}
            other => panic!("child did not stop at its hook: {other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(20), "child never reached its hook");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn signal(c: &std::process::Child, s: Signal) {
    kill(Pid::from_raw(c.id() as i32), s).unwrap();
}

fn commit_frame(w: &mut Writer) -> u64 {
    let seq = w.next_seq();
    let mut loan = w.loan(Duration::from_secs(5)).expect("the writer got a slot");
    loan.meta.len = fill_frame(loan.bytes(), seq);
    loan.commit().unwrap()
}

/// A holder child (optionally stopping at `hook` while attaching).
fn spawn_holder(name: &str, hook: Option<&str>) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut envs = vec![("FW_WIRE", name.to_string())];
    if let Some(h) = hook {
        envs.push(("FW_HOOK", h.to_string()));
    }
    let mut c = spawn_role(ENTRY, "holder", &envs);
    let out = BufReader::new(c.stdout.take().unwrap());
    (c, out)
}

/// Tells a holder to check its frame and finish; returns its verdict line.
fn finish_holder(mut c: std::process::Child, mut out: BufReader<std::process::ChildStdout>) -> String {
    c.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = c.wait().unwrap();
    assert!(status.success(), "holder failed ({status}): {rest}");
    rest.lines().find(|l| l.starts_with("OK held")).unwrap_or_default().to_string()
}

/// Item 1: a sweeper that found a reader dead and is delayed before it
/// frees the entry must not free the entry of a new, live reader that took
/// it meanwhile (on the old code, another sweeper freed the entry, a new
/// reader claimed it, and the late sweeper then freed the new reader: its
/// pinned frame was overwritten).
#[test]
fn a_delayed_sweeper_never_frees_a_live_readers_entry() {
    let p = Prefix::new();
    let name = p.wire("t", "cam.frames");
    wire::create(&name, &WireConfig::new(64 * 1024, 4, 2, Policy::Latest)).unwrap();
    let mut w = Writer::attach(&name, &Expect::default()).unwrap();
    commit_frame(&mut w);
    // A reader takes entry 0, holds a frame, and dies.
    let (mut dead, mut out) = spawn_holder(&name, None);
    wait_line(&mut out, "HOLDING");
    signal(&dead, Signal::SIGKILL);
    dead.wait().unwrap();
    // Sweeper 1 decides the entry is dead and stops right there.
    let s1 = spawn_role(ENTRY, "sweeper", &[("FW_WIRE", name.clone()), ("FW_HOOK", "SweepLocked".into())]);
    wait_stopped(&s1);
    // Meanwhile another sweeper runs, and a new reader attaches and pins a frame.
    wire::reclaim_dead(&name).unwrap();
    let (live, mut live_out) = spawn_holder(&name, None);
    // A late joiner of a latest wire gets the newest frame at once.
    let held: u64 = wait_line(&mut live_out, "HOLDING").rsplit(' ').next().unwrap().parse().unwrap();
    // Sweeper 1 resumes and finishes; the writer goes round the ring many times.
    signal(&s1, Signal::SIGCONT);
    assert!(finish(s1).contains("SWEPT 1 false"), "sweeper 1 freed exactly the dead entry");
    for _ in 0..500 {
        commit_frame(&mut w);
    }
    let st = wire::inspect(&name).unwrap();
    assert_eq!(st.readers.iter().filter(|r| r.alive).count(), 1, "the live reader keeps its entry: {st:?}");
    assert_eq!(finish_holder(live, live_out), format!("OK held {held}"));
    drop(w);
    wire::unlink(&name).unwrap();
}

/// Item 2: a reader killed while claiming its entry (before it is active)
/// leaves nothing stuck: the next reader attaches. On the old code the entry
/// stayed CLAIMING with no pid, and the next reader was refused with "all
/// reader entries in use".
#[test]
fn a_reader_killed_while_claiming_leaves_its_entry_reusable() {
    for hook in ["ReaderLocked", "ReaderClaiming"] {
        let p = Prefix::new();
        let name = p.wire("t", "cam.frames");
        wire::create(&name, &WireConfig::new(4096, 3, 1, Policy::Latest)).unwrap();
        let (c, _out) = spawn_holder(&name, Some(hook));
        wait_stopped(&c);
        signal(&c, Signal::SIGKILL);
        let mut c = c;
        c.wait().unwrap();
        wire::reclaim_dead(&name).unwrap();
        let mut r = Reader::attach(&name, &Expect::default())
            .unwrap_or_else(|e| panic!("killed at {hook}, the next reader was refused: {e}"));
        let mut w = Writer::attach(&name, &Expect::default()).unwrap();
        let seq = commit_frame(&mut w);
        assert_eq!(r.try_read().expect("a frame").meta().seq, seq);
        drop((r, w));
        wire::unlink(&name).unwrap();
    }
}

/// Item 2: a sweeper killed in the middle of freeing a dead reader's entry
/// leaves it recoverable: the next sweep or attach completes the job.
#[test]
fn a_sweeper_killed_mid_reclaim_leaves_the_entry_recoverable() {
    for hook in ["SweepLocked", "SweepCleared"] {
        let p = Prefix::new();
        let name = p.wire("t", "q.out");
        wire::create(&name, &WireConfig::new(4096, 2, 1, Policy::Queue)).unwrap();
        let mut w = Writer::attach(&name, &Expect::default()).unwrap();
        let (mut dead, mut out) = spawn_holder(&name, None);
        wait_line(&mut out, "ATTACHED");
        commit_frame(&mut w);
        wait_line(&mut out, "HOLDING");
        signal(&dead, Signal::SIGKILL);
        dead.wait().unwrap();
        let s = spawn_role(ENTRY, "sweeper", &[("FW_WIRE", name.clone()), ("FW_HOOK", hook.into())]);
        wait_stopped(&s);
        signal(&s, Signal::SIGKILL);
        let mut s = s;
        s.wait().unwrap();
        // The queue writer is not stuck behind the dead reader's cursor, and
        // a new reader gets the entry.
        commit_frame(&mut w);
        commit_frame(&mut w);
        let mut r = Reader::attach(&name, &Expect::default())
            .unwrap_or_else(|e| panic!("sweeper killed at {hook}: the entry stayed stuck: {e}"));
        let seq = commit_frame(&mut w);
        assert_eq!(r.try_read().expect("a frame").meta().seq, seq);
        drop((r, w));
        wire::unlink(&name).unwrap();
    }
}

/// Item 5: a sweep while a writer is attaching (its place taken, its
/// identity not yet written) must not clear the live writer: no second
/// writer may attach, and the first one carries on.
#[test]
fn a_sweep_during_writer_attach_never_clears_the_live_writer() {
    let p = Prefix::new();
    let name = p.wire("t", "cam.frames");
    wire::create(&name, &WireConfig::new(4096, 3, 1, Policy::Latest)).unwrap();
    let mut r = Reader::attach(&name, &Expect::default()).unwrap();
    let c = spawn_role(
        ENTRY,
        "hook_writer",
        &[("FW_WIRE", name.clone()), ("FW_HOOK", "WriterLocked".into()), ("FW_FRAMES", "20".into())],
    );
    wait_stopped(&c);
    let got = wire::reclaim_dead(&name).unwrap();
    assert!(!got.writer, "a sweep cleared a live writer");
    assert!(
        matches!(Writer::attach(&name, &Expect::default()), Err(WireError::WriterBusy { .. })),
        "a second writer attached while the first was attaching"
    );
    signal(&c, Signal::SIGCONT);
    assert!(finish(c).contains("OK 20"));
    let mut last = 0;
    while let Some(g) = r.try_read() {
        assert_eq!(check_frame(&g).unwrap(), g.meta().seq);
        last = g.meta().seq;
    }
    assert_eq!(last, 20, "the first writer's frames arrived");
    drop(r);
    wire::unlink(&name).unwrap();
}

/// Item 3: a reader in another pid namespace (a container sharing /dev/shm)
/// is alive to a sweeper in this one, and a reader here is alive to a
/// sweeper there. On the old code the first sweep dropped the foreign
/// reader's entry and the writer overwrote the frame it held.
#[test]
fn readers_in_another_pid_namespace_are_never_reclaimed() {
    let name_of = "readers_in_another_pid_namespace_are_never_reclaimed";
    let have_unshare =
        std::process::Command::new("unshare").arg("--version").output().is_ok_and(|o| o.status.success());
    if !nix::unistd::geteuid().is_root() || !have_unshare {
        common::skip(name_of, "root", "needs root and unshare(1) to make a pid namespace");
        return;
    }
    let p = Prefix::new();
    let name = p.wire("t", "cam.frames");
    wire::create(&name, &WireConfig::new(64 * 1024, 4, 2, Policy::Latest)).unwrap();
    let mut w = Writer::attach(&name, &Expect::default()).unwrap();
    let first = commit_frame(&mut w);
    // A reader in a new pid namespace with its own /proc (pid 1 there).
    let exe = std::env::current_exe().unwrap();
    let mut inner = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(&exe)
        .args([ENTRY, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env("FW_ROLE", "holder")
        .env("FW_WIRE", &name)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut inner_out = BufReader::new(inner.stdout.take().unwrap());
    if wait_line_or_eof(&mut inner_out, "HOLDING").is_none() {
        let status = inner.wait().unwrap();
        common::skip(name_of, "root", &format!("unshare --pid --fork --mount-proc failed ({status})"));
        drop(w);
        wire::unlink(&name).unwrap();
        return;
    }
    let st = wire::inspect(&name).unwrap();
    assert!(st.readers.iter().all(|r| r.alive && !r.same_pid_namespace), "{st:?}");
    // Sweeps here: the foreign reader keeps its entry and its frame.
    assert_eq!(wire::reclaim_dead(&name).unwrap().readers, 0, "a sweep reclaimed the foreign reader");
    for _ in 0..500 {
        commit_frame(&mut w);
        if w.next_seq() % 100 == 0 {
            wire::reclaim_dead(&name).unwrap();
        }
    }
    // And the other way round: a reader here, a sweeper in a new namespace.
    let (local, mut local_out) = spawn_holder(&name, None);
    let held: u64 = wait_line(&mut local_out, "HOLDING").rsplit(' ').next().unwrap().parse().unwrap();
    let sweep = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(&exe)
        .args([ENTRY, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env("FW_ROLE", "sweeper")
        .env("FW_WIRE", &name)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&sweep.stdout);
    assert!(text.contains("SWEPT 0 false"), "a sweeper in another namespace reclaimed a live place: {text}");
    for _ in 0..500 {
        commit_frame(&mut w);
    }
    assert_eq!(finish_holder(local, local_out), format!("OK held {held}"));
    inner.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    assert_eq!(wait_line(&mut inner_out, "OK held"), format!("OK held {first}"));
    assert!(inner.wait().unwrap().success());
    drop(w);
    wire::unlink(&name).unwrap();
}

/// Like `wait_line`, but `None` if the child's stdout ends first.
fn wait_line_or_eof(out: &mut impl std::io::BufRead, marker: &str) -> Option<String> {
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            return None;
        }
        if line.starts_with(marker) {
            return Some(line.trim_end().to_string());
        }
    }
}

/// Item 4: a damaged header gives every program that opens the wire a typed
/// error naming the field, never a panic (on the old code a page size of 0
/// divided by zero, and a huge slot size wrapped the layout arithmetic).
#[test]
fn a_damaged_header_is_a_typed_error_for_every_opener() {
    use std::os::unix::fs::FileExt;
    let cases: &[(&str, usize, &[u8], &str)] = &[
        ("page size 0", 84, &0u32.to_le_bytes(), "page size"),
        ("page size not a power of two", 84, &3000u32.to_le_bytes(), "page size"),
        ("huge slot size", 16, &(u64::MAX / 3).to_le_bytes(), "slot size"),
        ("slot size 0", 16, &0u64.to_le_bytes(), "slot size"),
        ("slot count 0", 24, &0u32.to_le_bytes(), "slot count"),
        ("huge slot count", 24, &u32::MAX.to_le_bytes(), "slot count"),
        ("no reader entries", 28, &0u32.to_le_bytes(), "reader entries"),
        ("too many reader entries", 28, &100_000u32.to_le_bytes(), "reader entries"),
        ("unknown policy", 32, &7u32.to_le_bytes(), "policy"),
        ("unknown payload kind", 36, &99u32.to_le_bytes(), "payload kind"),
        ("wrong stride", 40, &1u64.to_le_bytes(), "slot stride"),
        ("wrong reader table offset", 56, &(1u64 << 40).to_le_bytes(), "offset of reader table"),
        ("total size past the file", 72, &(1u64 << 50).to_le_bytes(), "total size"),
    ];
    for (what, off, bytes, field) in cases {
        let p = Prefix::new();
        let name = p.wire("t", "a.b");
        wire::create(&name, &WireConfig::new(4096, 4, 2, Policy::Latest)).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(format!("/dev/shm/{name}")).unwrap();
        f.write_all_at(bytes, *off as u64).unwrap();
        let check = |who: &str, e: WireError| {
            assert!(matches!(e, WireError::Corrupt { .. }), "{what}: {who} gave {e}");
            assert!(e.to_string().contains(&format!("`{field}`")), "{what}: {who}: {e}");
        };
        check("status", wire::inspect(&name).expect_err("status refused it"));
        check("reclaim", wire::reclaim_dead(&name).expect_err("reclaim refused it"));
        check("reader", Reader::attach(&name, &Expect::default()).err().expect("reader refused it"));
        check("writer", Writer::attach(&name, &Expect::default()).err().expect("writer refused it"));
        wire::unlink(&name).unwrap();
    }
}

// ---------------------------------------------------------------------------
// A randomised storm: concurrent sweepers, readers that attach, hold frames
// and are SIGKILLed at random, a writer that is killed and replaced, and a
// content check on every frame while it is held. FW_STRESS_SECS (default 2)
// sets the seconds per policy.

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Attaches (waiting while every entry is in use), then reads for ever,
/// holding each frame a random while and checking it whole both on arrival
/// and just before release; now and then detaches and attaches again.
/// Prints `READ n` every 20 frames.
fn role_stress_reader(name: &str) {
    let mut rng = (u64::from(std::process::id()) * 0x9e37_79b9) | 1;
    let attach = || loop {
        match Reader::attach(name, &Expect::default()) {
            Ok(r) => return r,
            Err(WireError::ReadersFull { .. }) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("attach: {e}"),
        }
    };
    let mut r = attach();
    let mut n = 0u64;
    loop {
        let Some(g) = r.read(Duration::from_secs(5)) else { continue };
        let seq = g.meta().seq;
        assert_eq!(check_frame(&g), Ok(seq), "frame {seq} torn on arrival");
        std::thread::sleep(Duration::from_micros(xorshift(&mut rng) % 3000));
        assert_eq!(check_frame(&g), Ok(seq), "frame {seq} overwritten while held");
        drop(g);
        n += 1;
        if n.is_multiple_of(20) {
            println!("READ 20");
        }
        if xorshift(&mut rng).is_multiple_of(40) {
            drop(r);
            r = attach();
        }
    }
}

/// Reclaims and inspects at random intervals, for ever.
fn role_stress_sweeper(name: &str) {
    let mut rng = u64::from(std::process::id()) | 1;
    loop {
        wire::reclaim_dead(name).unwrap();
        wire::inspect(name).unwrap();
        std::thread::sleep(Duration::from_micros(xorshift(&mut rng) % 2000));
    }
}

/// Writes 64 KiB frames for ever (replacing a dead writer when it attaches).
fn role_stress_writer(name: &str) {
    let mut rng = u64::from(std::process::id()) | 1;
    let mut w = loop {
        match Writer::attach(name, &Expect::default()) {
            Ok(w) => break w,
            // The previous writer was just killed; its lock goes with its exit.
            Err(WireError::WriterBusy { .. }) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("writer attach: {e}"),
        }
    };
    loop {
        let seq = w.next_seq();
        match w.loan(Duration::from_millis(200)) {
            Ok(mut loan) => {
                loan.meta.len = fill_frame(loan.bytes(), seq);
                loan.commit().unwrap();
            }
            Err(WireError::Full { .. }) => continue,
            Err(e) => panic!("loan: {e}"),
        }
        std::thread::sleep(Duration::from_micros(xorshift(&mut rng) % 300));
    }
}

struct Storm {
    name: String,
    children: Vec<(&'static str, std::process::Child)>,
    reads: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Storm {
    fn spawn(&mut self, role: &'static str) {
        let mut c = spawn_role(ENTRY, role, &[("FW_WIRE", self.name.clone())]);
        let out = c.stdout.take().unwrap();
        let reads = self.reads.clone();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(BufReader::new(out)).map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("READ ").and_then(|n| n.parse::<u64>().ok()) {
                    reads.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        self.children.push((role, c));
    }

    /// Fails if any child exited by itself (a failed check panics).
    fn check(&mut self) {
        for (role, c) in &mut self.children {
            if let Some(status) = c.try_wait().unwrap() {
                panic!("a {role} process failed on its own ({status}); see its stderr above");
            }
        }
    }

    fn kill_one(&mut self, role: &str, rng: &mut u64) {
        let idx: Vec<usize> = (0..self.children.len()).filter(|&i| self.children[i].0 == role).collect();
        if idx.is_empty() {
            return;
        }
        let i = idx[(xorshift(rng) % idx.len() as u64) as usize];
        let (_, mut c) = self.children.swap_remove(i);
        signal(&c, Signal::SIGKILL);
        c.wait().unwrap();
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn storm(policy: Policy, secs: f64) -> (u64, u64, u32) {
    let p = Prefix::new();
    let name = p.wire("t", "storm.out");
    let slots = if policy == Policy::Latest { 6 } else { 3 };
    wire::create(&name, &WireConfig::new(64 * 1024, slots, 4, policy)).unwrap();
    let mut s = Storm { name: name.clone(), children: Vec::new(), reads: Default::default() };
    s.spawn("stress_writer");
    for _ in 0..3 {
        s.spawn("stress_sweeper");
    }
    for _ in 0..5 {
        s.spawn("stress_reader");
    }
    let mut rng = 0x2545_f491_4f6c_dd1d;
    let (mut reader_kills, mut writer_kills) = (0u64, 0u32);
    let t = Instant::now();
    while t.elapsed().as_secs_f64() < secs {
        std::thread::sleep(Duration::from_millis(5 + xorshift(&mut rng) % 40));
        s.check();
        match xorshift(&mut rng) % 10 {
            0..=5 => {
                s.kill_one("stress_reader", &mut rng);
                s.spawn("stress_reader");
                reader_kills += 1;
            }
            6 | 7 => {
                s.kill_one("stress_sweeper", &mut rng);
                s.spawn("stress_sweeper");
            }
            8 if xorshift(&mut rng).is_multiple_of(3) => {
                s.kill_one("stress_writer", &mut rng);
                s.spawn("stress_writer");
                writer_kills += 1;
            }
            _ => {}
        }
    }
    s.check();
    drop(s);
    // Everyone is gone: one sweep frees every place.
    wire::reclaim_dead(&name).unwrap();
    let st = wire::inspect(&name).unwrap();
    assert!(st.readers.is_empty() && st.writer_pid == 0, "places left after everyone died: {st:?}");
    wire::unlink(&name).unwrap();
    (st.frames_written, reader_kills, writer_kills)
}

#[test]
fn storm_of_kills_and_sweeps_never_overwrites_a_held_frame() {
    let secs: f64 = std::env::var("FW_STRESS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    for policy in [Policy::Latest, Policy::Queue] {
        let (frames, reader_kills, writer_kills) = storm(policy, secs);
        assert!(frames > 50, "{policy}: frames flowed ({frames})");
        assert!(reader_kills > 10, "{policy}: readers were killed ({reader_kills})");
        let _ = writeln!(
            std::io::stderr(),
            "storm {policy}: {frames} frames, {reader_kills} readers and {writer_kills} writers SIGKILLed, no frame torn or overwritten"
        );
    }
}

// ---------------------------------------------------------------------------
// Item 6: the frame path allocates nothing. A counting allocator counts the
// allocations made by the thread that runs the frame loop.

struct CountingAlloc;

thread_local! {
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static ALLOCS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; the bookkeeping uses
// const-initialised thread locals, which never allocate.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[test]
fn loaning_committing_and_reading_allocate_nothing() {
    for policy in [Policy::Latest, Policy::Queue] {
        let p = Prefix::new();
        let name = p.wire("t", "a.b");
        wire::create(&name, &WireConfig::new(4096, 4, 2, policy)).unwrap();
        let mut w = Writer::attach(&name, &Expect::default()).unwrap();
        let mut r = Reader::attach(&name, &Expect::default()).unwrap();
        ALLOCS.with(|a| a.set(0));
        COUNTING.with(|c| c.set(true));
        for _ in 0..1000 {
            let a = w.reserve(Duration::from_secs(1)).unwrap();
            let b = w.reserve(Duration::from_secs(1)).unwrap();
            w.slot_mut(a)[0] = 1;
            w.slot_mut(b)[0] = 2;
            w.commit(b, &FrameMeta { len: 1, ..Default::default() }).unwrap();
            w.commit(a, &FrameMeta { len: 1, ..Default::default() }).unwrap();
            let g = r.read(Duration::from_secs(1)).expect("a frame");
            assert_eq!(g.len(), 1);
            drop(g);
            if policy == Policy::Queue {
                drop(r.read(Duration::from_secs(1)).expect("the second frame"));
            }
        }
        COUNTING.with(|c| c.set(false));
        assert_eq!(ALLOCS.with(|a| a.get()), 0, "{policy}: allocations on the frame path");
        drop((r, w));
        wire::unlink(&name).unwrap();
    }
}
