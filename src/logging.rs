//! The service log: `tracing` to standard error, every line passed through [`MaskingWriter`] so
//! that no ID number reaches it, whoever wrote the line (our events, a library's, the request
//! span's `http.target` with the caller's path and query, the `Debug` form of an error).

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

use crate::domain::id_number::mask_id_numbers;

/// Writes what it is given with every ID number masked (`110101********0011`). The formatter
/// hands over a whole line in one `write`, so a number is never split between two calls; the
/// length reported is the length given, as the caller expects.
pub struct MaskingWriter<W: Write>(pub W);

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.0.write_all(mask_id_numbers(text).as_bytes())?,
            // Not text: no number can be found in it reliably, so none of it is written.
            Err(_) => self.0.write_all(b"[unprintable log output withheld]\n")?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Standard error, masked.
#[derive(Clone, Copy, Default)]
pub struct MaskedStderr;

impl<'a> MakeWriter<'a> for MaskedStderr {
    type Writer = MaskingWriter<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter(io::stderr())
    }
}

/// The process's log: the filter from `CREDITGATE_LOG` (default `info`), masked standard error.
pub fn init() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CREDITGATE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only on a terminal: a log file or a collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&io::stderr()))
        .with_writer(MaskedStderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_masked_and_lengths_kept() {
        let mut w = MaskingWriter(Vec::new());
        let line = b"GET /api/v1/subjects/110101199003070011?purpose=x 422\n";
        assert_eq!(w.write(line).unwrap(), line.len());
        let out = String::from_utf8(w.0).unwrap();
        assert_eq!(
            out,
            "GET /api/v1/subjects/110101********0011?purpose=x 422\n"
        );
    }
}
