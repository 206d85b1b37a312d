//! Printing helpers shared by subcommands: errors, JSON, terminal detection.

use std::io::{IsTerminal, Write};

/// Prints `error: ...` (with causes joined by `: `) to stderr.
pub fn print_error(e: &anyhow::Error) {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    let _ = writeln!(std::io::stderr(), "error: {msg}");
}

/// Whether stdout is a terminal (tidy, coloured output) or piped (plain output).
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// Writes one value as pretty JSON (terminal) or compact JSON (piped), plus a newline.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if stdout_is_tty() {
        serde_json::to_writer_pretty(&mut out, value)?;
    } else {
        serde_json::to_writer(&mut out, value)?;
    }
    writeln!(out)?;
    Ok(())
}

/// Whether the error is stdout's reader having gone away (EPIPE).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes `text` to stdout (an error, not a panic, when the reader has gone away).
pub fn print_out(text: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(text)?;
    out.flush()?;
    Ok(())
}
