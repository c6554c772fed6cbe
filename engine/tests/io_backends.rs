//! The conformance suite every IO backend passes: each test runs its behaviour against portable,
//! uring, fault(portable) and fault(uring). Where io_uring cannot be set up (seccomp, old
//! kernel) the uring cases are skipped with a message naming the reason.

use std::fs::File;
use std::io::{self, IoSlice};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use ringlog_engine::io::fault::FaultBackend;
use ringlog_engine::io::portable::PortableBackend;
use ringlog_engine::io::{IoBackend, read_exact_at};

/// Every test finishes well within this, on a loaded 2-core machine.
const TEST_TIME_MAX: Duration = Duration::from_secs(60);

/// One backend under test, with the fault handle when it is a fault backend.
struct Case {
    backend: Arc<dyn IoBackend>,
    fault: Option<Arc<FaultBackend>>,
}

fn cases() -> Vec<Case> {
    let mut inners: Vec<Arc<dyn IoBackend>> = vec![Arc::new(PortableBackend::new())];
    #[cfg(target_os = "linux")]
    match ringlog_engine::io::uring::UringBackend::new() {
        Ok(uring) => inners.push(Arc::new(uring)),
        Err(e) => eprintln!("io_uring unavailable ({e}); skipping the uring cases"),
    }
    let mut out = Vec::new();
    for inner in inners {
        let fault = Arc::new(FaultBackend::new(inner.clone()));
        out.push(Case {
            backend: inner,
            fault: None,
        });
        out.push(Case {
            backend: fault.clone(),
            fault: Some(fault),
        });
    }
    out
}

/// Runs `test` against every backend on a watchdog thread, failing when it hangs.
fn for_each_backend(test: fn(&Case, &File)) {
    for case in cases() {
        let name = case.backend.name().to_owned();
        let (done_tx, done_rx) = mpsc::channel();
        let runner = thread::spawn(move || {
            let file = tempfile::tempfile().expect("create temp file");
            test(&case, &file);
            let _ = done_tx.send(());
        });
        match done_rx.recv_timeout(TEST_TIME_MAX) {
            Ok(()) => runner.join().expect("test thread"),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Err(panic) = runner.join() {
                    eprintln!("failed on backend {name}");
                    std::panic::resume_unwind(panic);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("backend {name}: test still running after {TEST_TIME_MAX:?}")
            }
        }
    }
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    // xorshift, so that misplaced bytes do not match by accident.
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn read_back(backend: &dyn IoBackend, file: &File, pos: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    read_exact_at(backend, file, pos, &mut buf).expect("read back");
    buf
}

#[test]
fn round_trip_at_offsets() {
    for_each_backend(|case, file| {
        let b = &*case.backend;
        let at_zero = pattern(4096, 1);
        let unaligned = pattern(333, 2);
        let past_a_hole = pattern(10_000, 3);
        b.write_all_at(file, 0, &[IoSlice::new(&at_zero)]).unwrap();
        b.write_all_at(file, 5000, &[IoSlice::new(&unaligned)])
            .unwrap();
        b.write_all_at(file, 1 << 20, &[IoSlice::new(&past_a_hole)])
            .unwrap();
        assert_eq!(read_back(b, file, 0, 4096), at_zero);
        assert_eq!(
            read_back(b, file, 4096, 904),
            vec![0; 904],
            "hole reads zeros"
        );
        assert_eq!(read_back(b, file, 5000, 333), unaligned);
        assert_eq!(read_back(b, file, 1 << 20, 10_000), past_a_hole);
        // Overwrite in the middle.
        let patch = pattern(100, 4);
        b.write_all_at(file, 10, &[IoSlice::new(&patch)]).unwrap();
        let mut expected = at_zero.clone();
        expected[10..110].copy_from_slice(&patch);
        assert_eq!(read_back(b, file, 0, 4096), expected);
        assert_eq!(file.metadata().unwrap().len(), (1 << 20) + 10_000);
    });
}

#[test]
fn vectored_write_of_several_slices() {
    for_each_backend(|case, file| {
        let b = &*case.backend;
        let parts: Vec<Vec<u8>> = [1, 4096, 0, 100_000, 7, 65_536]
            .iter()
            .enumerate()
            .map(|(i, &len)| pattern(len, i as u64 + 10))
            .collect();
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        b.write_all_at(file, 17, &slices).unwrap();
        let all = parts.concat();
        assert_eq!(read_back(b, file, 17, all.len()), all);
        // More slices than one writev takes (UIO_MAXIOV is 1024).
        let many: Vec<Vec<u8>> = (0..2000).map(|i| pattern(3, i)).collect();
        let slices: Vec<IoSlice<'_>> = many.iter().map(|p| IoSlice::new(p)).collect();
        b.write_all_at(file, 0, &slices).unwrap();
        assert_eq!(read_back(b, file, 0, 6000), many.concat());
        b.write_all_at(file, 0, &[]).unwrap();
    });
}

#[test]
fn read_past_end_of_file() {
    for_each_backend(|case, file| {
        let b = &*case.backend;
        b.write_all_at(file, 0, &[IoSlice::new(&[7; 100])]).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(b.read_at(file, 100, &mut buf).unwrap(), 0);
        assert_eq!(b.read_at(file, 5000, &mut buf).unwrap(), 0);
        assert_eq!(b.read_at(file, 90, &mut buf).unwrap(), 10);
        assert_eq!(b.read_at(file, 0, &mut []).unwrap(), 0);
        let err = read_exact_at(b, file, 50, &mut [0u8; 51]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        read_exact_at(b, file, 50, &mut [0u8; 50]).unwrap();
    });
}

#[test]
fn sync_data_succeeds() {
    for_each_backend(|case, file| {
        let b = &*case.backend;
        b.sync_data(file).unwrap();
        b.write_all_at(file, 0, &[IoSlice::new(&pattern(8192, 5))])
            .unwrap();
        b.sync_data(file).unwrap();
        b.sync_data(file).unwrap();
        if let Some(fault) = &case.fault {
            assert_eq!(fault.syncs(), 3);
        }
    });
}

#[test]
fn concurrent_writers_and_syncs() {
    const THREADS: usize = 8;
    const WRITES_PER_THREAD: usize = 32;
    const WRITE_LEN: usize = 4096 + 123;
    const RANGE_LEN: u64 = (WRITES_PER_THREAD * WRITE_LEN) as u64;
    for_each_backend(|case, file| {
        let start = Barrier::new(THREADS + 1);
        thread::scope(|s| {
            for t in 0..THREADS {
                let (b, start) = (&case.backend, &start);
                s.spawn(move || {
                    start.wait();
                    for i in 0..WRITES_PER_THREAD {
                        let pos = t as u64 * RANGE_LEN + (i * WRITE_LEN) as u64;
                        let data = pattern(WRITE_LEN, pos);
                        b.write_all_at(file, pos, &[IoSlice::new(&data)]).unwrap();
                        if i % 8 == 7 {
                            b.sync_data(file).unwrap();
                        }
                    }
                });
            }
            let (b, start) = (&case.backend, &start);
            s.spawn(move || {
                start.wait();
                for _ in 0..16 {
                    b.sync_data(file).unwrap();
                }
            });
        });
        let b = &*case.backend;
        b.sync_data(file).unwrap();
        for t in 0..THREADS {
            for i in 0..WRITES_PER_THREAD {
                let pos = t as u64 * RANGE_LEN + (i * WRITE_LEN) as u64;
                assert_eq!(
                    read_back(b, file, pos, WRITE_LEN),
                    pattern(WRITE_LEN, pos),
                    "thread {t} write {i} at file position {pos}"
                );
            }
        }
    });
}

#[test]
fn short_reads_loop_through_read_exact_at() {
    for_each_backend(|case, file| {
        // Plain backends get a fault wrapper that makes their reads short.
        let fault = match &case.fault {
            Some(fault) => fault.clone(),
            None => Arc::new(FaultBackend::new(case.backend.clone())),
        };
        let data = pattern(100_000, 6);
        fault.write_all_at(file, 3, &[IoSlice::new(&data)]).unwrap();
        fault.short_reads(4093);
        let mut buf = [0u8; 10_000];
        assert_eq!(fault.read_at(file, 3, &mut buf).unwrap(), 4093);
        let before = fault.reads();
        assert_eq!(read_back(&*fault, file, 3, data.len()), data);
        assert_eq!(fault.reads() - before, 100_000u64.div_ceil(4093));
        let err = read_exact_at(&*fault, file, 3, &mut vec![0u8; data.len() + 1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        fault.clear();
    });
}

#[test]
fn open_backend_names_what_it_opened() {
    use ringlog_engine::io::{IoBackendKind, open_backend};
    let portable = open_backend(IoBackendKind::Portable).unwrap();
    assert_eq!(portable.name(), "portable");
    let auto = open_backend(IoBackendKind::Auto).unwrap();
    match open_backend(IoBackendKind::Uring) {
        Ok(uring) => {
            assert_eq!(uring.name(), "uring");
            assert_eq!(auto.name(), "uring");
        }
        Err(e) => {
            eprintln!("io_uring unavailable ({e}); auto fell back");
            assert_eq!(auto.name(), "portable");
        }
    }
}

#[test]
fn write_queues_write_every_buffer_in_order() {
    for_each_backend(|case, file| {
        let name = case.backend.name();
        let shared = Arc::new(file.try_clone().expect("clone file"));
        let mut queue = ringlog_engine::io::write_queue(&case.backend).expect("write queue");
        let mut expected = Vec::new();
        let mut pos = 0u64;
        // Three writes in flight at once, each of several buffers of odd sizes.
        for write in 0..3u64 {
            let bufs: Vec<Vec<u8>> = (0..5)
                .map(|i| pattern(1000 + 37 * i, write * 10 + i as u64))
                .collect();
            let len: usize = bufs.iter().map(Vec::len).sum();
            expected.extend(bufs.iter().flatten().copied());
            queue.submit(shared.clone(), pos, bufs).expect("submit");
            pos += len as u64;
        }
        assert_eq!(queue.in_flight(), 3, "{name}");
        for _ in 0..3 {
            let bufs = queue
                .complete_oldest()
                .expect("one in flight")
                .expect("write succeeded");
            assert_eq!(bufs.len(), 5, "{name}: the buffers come back");
        }
        assert!(queue.complete_oldest().is_none(), "{name}");
        assert_eq!(
            read_back(case.backend.as_ref(), file, 0, expected.len()),
            expected,
            "{name}"
        );
    });
}
