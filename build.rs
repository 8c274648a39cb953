//! Build script: records the git revision the binary is built from, for
//! `dnslb --version`, as the `DNSLB_GIT_REVISION` environment variable:
//! `git rev-parse --short=12 HEAD`, with `-dirty` appended when tracked
//! files differ from that commit, or `unknown` when git or the repository is
//! not there (a source tarball, a crate download).
//!
//! Cargo reruns this script when HEAD moves (a commit, a checkout) or the
//! sources change, so the revision and the dirty marker stay current.

use std::path::PathBuf;
use std::process::Command;

/// Runs git with `arguments` in the package directory; its trimmed standard
/// output when it succeeds.
fn git(arguments: &[&str]) -> Option<String> {
    let output = Command::new("git").args(arguments).output().ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8(output.stdout).ok()?.trim().to_owned())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let revision = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(revision) if !revision.is_empty() => {
            // In a worktree `.git` is a file: ask git where HEAD and the
            // branch's ref live.
            if let Some(git_dir) = git(&["rev-parse", "--git-dir"]) {
                println!(
                    "cargo:rerun-if-changed={}",
                    PathBuf::from(&git_dir).join("HEAD").display()
                );
            }
            if let (Some(common_dir), Some(reference)) = (
                git(&["rev-parse", "--git-common-dir"]),
                git(&["symbolic-ref", "-q", "HEAD"]),
            ) {
                // A ref is a loose file, or a line in packed-refs until
                // the next commit writes it loose again.
                let common_dir = PathBuf::from(common_dir);
                for path in [common_dir.join(&reference), common_dir.join("packed-refs")] {
                    if path.exists() {
                        println!("cargo:rerun-if-changed={}", path.display());
                    }
                }
            }
            // An edit under src/ or to the manifests changes the dirty marker
            // (edits elsewhere show at the next rebuild for another reason).
            for path in ["src", "Cargo.toml", "Cargo.lock"] {
                println!("cargo:rerun-if-changed={path}");
            }
            let dirty = git(&[
                "--no-optional-locks",
                "status",
                "--porcelain",
                "--untracked-files=no",
            ])
            .is_some_and(|status| !status.is_empty());
            if dirty {
                format!("{revision}-dirty")
            } else {
                revision
            }
        }
        _ => "unknown".to_owned(),
    };
    println!("cargo:rustc-env=DNSLB_GIT_REVISION={revision}");
}
