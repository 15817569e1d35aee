//! dlszonectl: see the library documentation (`src/lib.rs`) and
//! docs/dlszonectl.md.

use std::io;
use std::process::exit;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
    #[cfg(target_os = "illumos")]
    {
        let mut dev = match dlszonectl::illumos::DevNode::open() {
            Ok(d) => d,
            Err(e) => {
                use std::io::Write as _;
                let _ = writeln!(err, "dlszonectl: cannot open {}: {e}", dlszone_ioctl::DZ_DEVICE);
                exit(dlszonectl::EXIT_FAILURE);
            }
        };
        exit(dlszonectl::run(&args, &mut dev, &mut out, &mut err));
    }
    #[cfg(not(target_os = "illumos"))]
    {
        use std::io::Write as _;
        let _ = (&args, &mut out);
        let _ = writeln!(
            err,
            "dlszonectl: {} exists on illumos only; off illumos the tool runs in its tests, \
             over the host build of the driver",
            dlszone_ioctl::DZ_DEVICE
        );
        exit(dlszonectl::EXIT_FAILURE);
    }
}
