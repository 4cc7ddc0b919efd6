//! `partlog`: Kafka's command-line tools for partlog data directories.
//!
//! Reading commands (`dump`, `verify`, `topics list|describe`, `consume`, `groups
//! list|describe`) open the directory read-only ([`partlog::Log::open_read_only`]): they work
//! beside the application that has it open, take no lock and change no file. Writing commands
//! (`topics create|alter|delete`, `produce`) and those of consumer groups (`consume --group`,
//! `groups reset-offsets|delete`) open it as its owner, so they need it closed elsewhere.

mod dump;
mod groups;
mod offsets;
mod read;
mod write;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "partlog", version, about = "Inspect and use partlog data directories, as Kafka's tools do")]
struct Cli {
    /// The data directory [default: $PARTLOG_DIR if set and not empty, else ./data].
    #[arg(short, long, global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Print JSON (one object per line) instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Batches and records of segment files, partition directories or a data directory
    /// (kafka-dump-log).
    #[command(after_help = BYTES_AS_TEXT)]
    Dump(dump::DumpArgs),
    /// Checks every batch and index of the data directory; exits 1 if anything is damaged.
    Verify {
        /// No progress line on a terminal.
        #[arg(long)]
        quiet: bool,
    },
    /// List, describe, create, alter and delete topics (kafka-topics).
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Print records as they arrive, until Ctrl-C, --max-messages or --timeout-ms; then the count,
    /// on standard error (kafka-console-consumer).
    #[command(after_help = BYTES_AS_TEXT)]
    Consume(read::ConsumeArgs),
    /// Append records read from standard input, one per line (kafka-console-producer).
    Produce(write::ProduceArgs),
    /// Consumer groups: list, describe with lag, reset offsets, delete (kafka-consumer-groups).
    #[command(subcommand)]
    Groups(GroupsCommand),
}

#[derive(Subcommand)]
enum TopicsCommand {
    /// Topic names.
    List,
    /// Partitions, segments, sizes, offsets and config of one topic, or of all.
    Describe { topic: Option<String> },
    /// Creates a topic.
    Create {
        topic: String,
        #[arg(short, long, default_value_t = 1)]
        partitions: u32,
        /// A topic config setting, `key=value` (Kafka's names); repeatable.
        #[arg(short, long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Nothing to do (and no error) if the topic exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// Changes or removes config settings (kafka-configs --alter) and adds partitions (only more;
    /// keys map to partitions anew).
    #[command(group = clap::ArgGroup::new("change").required(true).multiple(true)
        .args(["partitions", "configs", "delete_configs"]))]
    Alter {
        topic: String,
        /// The new partition count.
        #[arg(short, long)]
        partitions: Option<u32>,
        /// A setting to change, `key=value`; repeatable.
        #[arg(short, long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Settings to remove, back to Kafka's defaults (kafka-configs --delete-config):
        /// `key1,key2`; repeatable.
        #[arg(long = "delete-config", value_name = "KEY,…", value_delimiter = ',')]
        delete_configs: Vec<String>,
    },
    /// Deletes a topic and its data.
    Delete {
        topic: String,
        /// Nothing to do (and no error) if the topic does not exist.
        #[arg(long)]
        if_exists: bool,
    },
}

#[derive(Subcommand)]
enum GroupsCommand {
    /// Group names and states.
    List,
    /// A group's members, committed offsets and lag.
    Describe { group: String },
    /// Sets a group's committed offsets (--reset-offsets); a dry run unless --execute. Opens the
    /// directory as its owner.
    ResetOffsets(groups::ResetArgs),
    /// Deletes groups without members, with their committed offsets (--delete). Opens the
    /// directory as its owner.
    Delete {
        #[arg(required = true)]
        groups: Vec<String>,
    },
}

/// How `consume` and `dump --print-data-log` print bytes as text (their --help).
const BYTES_AS_TEXT: &str =
    "Keys, values and headers print as text: UTF-8 as it is, except that a backslash prints as \\\\, \
tab, newline and carriage return as \\t, \\n and \\r, and other control characters and bytes that are not UTF-8 as \
\\xNN, one per byte; so a value's bytes can be told from the text. A null key or value prints as null. With --json, \
UTF-8 prints as a JSON string and anything else as {\"hex\": \"…\"}.";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out { json: cli.json, damage_only: false, silent: false };
    // --dir, else PARTLOG_DIR unless it is empty (an empty value names no directory), else ./data.
    let dir = cli
        .dir
        .or_else(|| std::env::var_os("PARTLOG_DIR").filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("./data"));
    let dir = &dir;
    let result = match cli.command {
        Command::Dump(args) => dump::run(&args, &out),
        Command::Verify { quiet } => read::verify(dir, quiet, &out),
        Command::Topics(TopicsCommand::List) => read::topics_list(dir, &out),
        Command::Topics(TopicsCommand::Describe { topic }) => read::topics_describe(dir, topic.as_deref(), &out),
        Command::Topics(TopicsCommand::Create { topic, partitions, configs, if_not_exists }) => {
            write::topics_create(dir, &topic, partitions, &configs, if_not_exists, &out)
        }
        Command::Topics(TopicsCommand::Alter { topic, partitions, configs, delete_configs }) => {
            write::topics_alter(dir, &topic, partitions, &configs, &delete_configs, &out)
        }
        Command::Topics(TopicsCommand::Delete { topic, if_exists }) => {
            write::topics_delete(dir, &topic, if_exists, &out)
        }
        Command::Consume(args) => read::consume(dir, &args, &out),
        Command::Produce(args) => write::produce(dir, &args, &out),
        Command::Groups(GroupsCommand::List) => read::groups_list(dir, &out),
        Command::Groups(GroupsCommand::Describe { group }) => read::groups_describe(dir, &group, &out),
        Command::Groups(GroupsCommand::ResetOffsets(args)) => groups::reset_offsets(dir, &args, &out),
        Command::Groups(GroupsCommand::Delete { groups }) => groups::delete(dir, &groups, &out),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Damaged) => ExitCode::from(1),
        Ok(Outcome::Failed) => ExitCode::from(2),
        Err(e) => {
            eprintln!("partlog: {e}");
            ExitCode::from(2)
        }
    }
}

/// Whether `dir` holds the files every data directory has (partlog's or a Kafka broker's
/// checkpoints, partlog's lock): a command does not take a directory without them for one.
pub fn has_data_dir_files(dir: &std::path::Path) -> bool {
    [".lock", "recovery-point-offset-checkpoint", "log-start-offset-checkpoint"].iter().any(|m| dir.join(m).exists())
}

/// Opens a data directory as its owner, for its consumer groups (to `what`): their members live
/// in the process that has the directory open. A directory that is not a data directory is not
/// opened (it would get partlog's files).
pub fn open_for_groups(dir: &std::path::Path, what: &str) -> Result<partlog::Log, Failure> {
    if !dir.is_dir() || !has_data_dir_files(dir) {
        return Err(format!("{} is not a partlog data directory (no checkpoint files)", dir.display()).into());
    }
    partlog::Log::open(dir).map_err(|e| {
        format!(
            "cannot open {} to {what}: {e} (a consumer group's members live in the process that has the directory \
             open: close it first)",
            dir.display()
        )
        .into()
    })
}

/// How a command ended: exit code 0, 1 when it found damage, or 2 when it failed in part and
/// has printed why (`produce` with records not appended, `groups delete` with groups not deleted).
pub enum Outcome {
    Clean,
    Damaged,
    Failed,
}

/// Any error a command reports (printed, exit code 2).
pub type Failure = Box<dyn std::error::Error>;

/// Where output goes: text lines, or JSON lines.
pub struct Out {
    pub json: bool,
    /// Print only lines that report damage (`verify`'s index checks).
    pub damage_only: bool,
    /// Print nothing (a check whose verdict alone is wanted).
    pub silent: bool,
}

/// Set once standard output is closed (`| head`): commands stop producing and end normally.
pub static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Out {
    /// Whether standard output was closed by its reader.
    pub fn closed(&self) -> bool {
        STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Prints `text`, or `value` as one JSON line.
    pub fn line(&self, text: impl FnOnce() -> String, value: impl FnOnce() -> serde_json::Value) {
        use std::io::Write;
        if self.silent {
            return;
        }
        let line = if self.damage_only || self.json {
            let value = value();
            if value.is_null() || (self.damage_only && value.get("damage").is_none()) {
                return;
            }
            if self.json {
                value.to_string()
            } else {
                text()
            }
        } else {
            text()
        };
        // A closed pipe (`| head`): nothing more is printed; the command ends as it would
        // (closing the log, committing what a group printed, with its exit code).
        if self.closed() || writeln!(std::io::stdout().lock(), "{line}").is_err() {
            STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Bytes for JSON: a string if they are UTF-8, else `{"hex": "…"}`, so that the two never
/// read alike.
pub fn json_bytes(bytes: Option<&[u8]>) -> serde_json::Value {
    match bytes {
        None => serde_json::Value::Null,
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => serde_json::Value::String(s.to_owned()),
            Err(_) => serde_json::json!({"hex": b.iter().map(|x| format!("{x:02x}")).collect::<String>()}),
        },
    }
}

/// Bytes as text (`null` for none), unambiguous and safe on a terminal: see [`escape`].
pub fn show(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(|| "null".into(), escape)
}

/// Bytes as text: UTF-8 as it is, except a backslash as `\\`, tab, newline and carriage return
/// as `\t`, `\n`, `\r`, and other control characters and bytes that are not UTF-8 as `\xNN`, one
/// per byte (so `\xNN` always means the byte NN).
pub fn escape(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => text.push_str("\\\\"),
                '\t' => text.push_str("\\t"),
                '\n' => text.push_str("\\n"),
                '\r' => text.push_str("\\r"),
                c if c.is_control() => {
                    for b in c.encode_utf8(&mut [0; 4]).bytes() {
                        let _ = write!(text, "\\x{b:02x}");
                    }
                }
                c => text.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(text, "\\x{b:02x}");
        }
    }
    text
}
