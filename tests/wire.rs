//! Cross-process tests of the wire: real POSIX shared memory, real
//! semaphores, real processes (this binary re-executed in a role), real
//! SIGKILL. Each test has its own shared-memory prefix and checks that it
//! leaves nothing in /dev/shm.

mod common;

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use common::*;
use framewire::wire::{self, Expect, FrameMeta, Policy, Reader, WireConfig, WireError, Writer};

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

/// Takes one frame and holds its guard until stdin says go, then checks it
/// was not overwritten meanwhile.
fn role_holder(name: &str) {
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
