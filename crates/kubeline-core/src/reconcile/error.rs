//! Why credentials could not be brought up to date ([`CredentialsError`]), and reading a file
//! of the set as text.

use super::{CA_CERT, Files};
use crate::pki::PemError;

/// Why credentials could not be brought up to date. Nothing is changed when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// No CA and none requested.
    #[error("{CA_CERT} does not exist yet, so there is no CA to issue from")]
    NoCa,
    /// A file is unreadable or unusable.
    #[error("{file}: {source}")]
    File {
        /// The file (credential name or a path given by the user).
        file: String,
        /// What is wrong.
        #[source]
        source: PemError,
    },
    /// Files that contradict each other or the request.
    #[error("{file}: {message}")]
    Inconsistent {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
        /// How to fix it.
        fix: String,
    },
}

impl CredentialsError {
    /// How to fix it, in one sentence.
    pub fn fix(&self) -> String {
        match self {
            CredentialsError::NoCa => "run `kubeline render credentials --generate-ca` (a CA for \
                trying kubeline, not for production) or pass your organisation's CA with \
                --ca-cert-path and --ca-key-path"
                .into(),
            CredentialsError::File { source, .. } => match source {
                PemError::PassphraseMissing | PemError::PassphraseWrong => {
                    "export KUBELINE_CA_KEY_PASSPHRASE with the key's passphrase".into()
                }
                _ => "restore the file from a backup, or delete it to have it created anew \
                      (only for files that are not the CA)"
                    .into(),
            },
            CredentialsError::Inconsistent { fix, .. } => fix.clone(),
        }
    }

    /// Stable PascalCase name for the pipeline's Retry/Catch.
    pub fn name(&self) -> crate::errors::ErrorName {
        use crate::errors::ErrorName;
        match self {
            CredentialsError::NoCa => ErrorName::CredentialsNoCa,
            CredentialsError::File { .. } | CredentialsError::Inconsistent { .. } => {
                ErrorName::CredentialsInvalid
            }
        }
    }
}

pub(super) fn file_err(file: &str) -> impl FnOnce(PemError) -> CredentialsError + '_ {
    move |source| CredentialsError::File {
        file: file.to_owned(),
        source,
    }
}

pub(super) fn text<'a>(files: &'a Files, name: &str) -> Result<Option<&'a str>, CredentialsError> {
    match files.get(name) {
        None => Ok(None),
        Some(bytes) => std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| CredentialsError::File {
                file: name.to_owned(),
                source: PemError::Malformed("not UTF-8 text".into()),
            }),
    }
}
