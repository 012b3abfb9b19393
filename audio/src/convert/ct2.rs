//! Reader for CTranslate2's `model.bin`.
//!
//! The format (written by `ModelSpec._serialize` in CTranslate2's
//! `python/ctranslate2/specs/model_spec.py`, read by `models::Model::load`
//! in `src/models/model.cc`), all integers little-endian:
//!
//! ```text
//! u32 binary_version                  (6 today; 2..=6 are read here)
//! str spec_name                       e.g. "WhisperSpec"
//! u32 spec_revision                   (WhisperSpec: 3)
//! u32 num_variables
//! num_variables times, sorted by name:
//!     str  name                       e.g. "encoder/layer_0/ffn/linear_0/weight"
//!     u8   rank
//!     u32  dims[rank]                 row-major (C order), outermost first
//!     version >= 4: u8 dtype          0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16
//!                   u32 num_bytes
//!     version <  4: u8 item_size      (4 → f32, 2 → i16, 1 → i8)
//!                   u32 num_items
//!     u8   data[num_bytes]
//! version >= 3:
//!     u32 num_aliases
//!     num_aliases times: str alias, str target_variable_name
//!
//! str: u16 length (including a trailing NUL), then that many bytes, NUL last
//! ```
//!
//! Scalars (rank 0) hold options such as `encoder/num_heads` (i16) or
//! `decoder/activation` (i8). Aliases name a variable again under another
//! name (Whisper's `decoder/projection/weight` is the token embedding).
//!
//! The reader parses the index only; tensor data are read on demand with
//! [`Ct2Model::read`]. Every declared size is checked against the file's
//! length before anything is allocated, so a corrupt or truncated file gives
//! a [`Ct2Error`], never a panic or a huge allocation.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};

/// Highest rank accepted (CTranslate2 uses up to 3 for Whisper; 8 leaves room).
const MAX_RANK: usize = 8;

/// A CTranslate2 tensor element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Dtype {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
}

impl Ct2Dtype {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::Bf16,
            _ => return None,
        })
    }

    fn from_item_size(size: u8) -> Option<Self> {
        Some(match size {
            4 => Self::F32,
            2 => Self::I16,
            1 => Self::I8,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F16 | Self::Bf16)
    }
}

impl fmt::Display for Ct2Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "float32",
            Self::I8 => "int8",
            Self::I16 => "int16",
            Self::I32 => "int32",
            Self::F16 => "float16",
            Self::Bf16 => "bfloat16",
        })
    }
}

/// A problem with a `model.bin`. Offsets are byte offsets in the file.
#[derive(Debug, thiserror::Error)]
pub enum Ct2Error {
    #[error("reading the model: {0}")]
    Io(#[from] io::Error),
    #[error("the model file ends early (at byte {offset}, {needed} more bytes needed for {what})")]
    Truncated { offset: u64, needed: u64, what: &'static str },
    #[error("unsupported CTranslate2 binary version {0} (this reader knows 2 to 6)")]
    UnsupportedVersion(u32),
    #[error("malformed model file at byte {offset}: {reason}")]
    Malformed { offset: u64, reason: String },
    #[error("{count} bytes after the end of the model data (corrupt or unknown format)")]
    TrailingData { count: u64 },
    #[error("the model has no variable {0:?}")]
    MissingVariable(String),
}

/// One variable's index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ct2Variable {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: Ct2Dtype,
    /// Where its data start in the file.
    pub offset: u64,
    pub num_bytes: u64,
}

impl Ct2Variable {
    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The index of a CTranslate2 model file, plus the open file to read
/// tensor data from.
#[derive(Debug)]
pub struct Ct2Model<R> {
    pub binary_version: u32,
    pub spec_name: String,
    pub spec_revision: u32,
    /// In file order.
    pub variables: Vec<Ct2Variable>,
    /// alias → variable name.
    pub aliases: Vec<(String, String)>,
    by_name: HashMap<String, usize>,
    source: R,
}

/// A bounded reader over the index part of the file.
struct Cursor<'a, R> {
    inner: &'a mut R,
    pos: u64,
    len: u64,
}

impl<R: Read + Seek> Cursor<'_, R> {
    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn need(&self, n: u64, what: &'static str) -> Result<(), Ct2Error> {
        if self.remaining() < n {
            return Err(Ct2Error::Truncated { offset: self.pos, needed: n - self.remaining(), what });
        }
        Ok(())
    }

    fn bytes<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Ct2Error> {
        self.need(N as u64, what)?;
        let mut buf = [0u8; N];
        self.inner.read_exact(&mut buf)?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, Ct2Error> {
        Ok(self.bytes::<1>(what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, Ct2Error> {
        Ok(u16::from_le_bytes(self.bytes(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, Ct2Error> {
        Ok(u32::from_le_bytes(self.bytes(what)?))
    }

    fn string(&mut self, what: &'static str) -> Result<String, Ct2Error> {
        let start = self.pos;
        let len = u64::from(self.u16(what)?);
        if len == 0 {
            return Err(Ct2Error::Malformed { offset: start, reason: format!("{what}: zero-length string") });
        }
        self.need(len, what)?;
        // len <= u16::MAX: a small, bounded allocation.
        let mut buf = vec![0u8; len as usize];
        self.inner.read_exact(&mut buf)?;
        self.pos += len;
        if buf.pop() != Some(0) {
            return Err(Ct2Error::Malformed { offset: start, reason: format!("{what}: string is not NUL-terminated") });
        }
        String::from_utf8(buf)
            .map_err(|_| Ct2Error::Malformed { offset: start, reason: format!("{what}: string is not UTF-8") })
    }

    fn skip(&mut self, n: u64, what: &'static str) -> Result<(), Ct2Error> {
        self.need(n, what)?;
        let target = self.pos + n;
        self.inner.seek(SeekFrom::Start(target))?;
        self.pos = target;
        Ok(())
    }
}

impl<R: Read + Seek> Ct2Model<R> {
    /// Parses the index of a model file. Tensor data are not read.
    pub fn parse(mut source: R) -> Result<Self, Ct2Error> {
        let len = source.seek(SeekFrom::End(0))?;
        source.seek(SeekFrom::Start(0))?;
        let mut c = Cursor { inner: &mut source, pos: 0, len };

        let binary_version = c.u32("the binary version")?;
        if !(2..=6).contains(&binary_version) {
            return Err(Ct2Error::UnsupportedVersion(binary_version));
        }
        let spec_name = c.string("the spec name")?;
        let spec_revision = c.u32("the spec revision")?;

        let num_variables = c.u32("the variable count")?;
        // Each variable takes at least 2+2 (name) + 1 (rank) + 1 + 4 bytes.
        let max_possible = c.remaining() / 10;
        if u64::from(num_variables) > max_possible {
            return Err(Ct2Error::Malformed {
                offset: c.pos,
                reason: format!("{num_variables} variables cannot fit in {} bytes", c.remaining()),
            });
        }
        let mut variables = Vec::with_capacity(num_variables as usize);
        let mut by_name = HashMap::with_capacity(num_variables as usize);
        for _ in 0..num_variables {
            let entry_start = c.pos;
            let name = c.string("a variable name")?;
            let rank = usize::from(c.u8("a variable rank")?);
            if rank > MAX_RANK {
                return Err(Ct2Error::Malformed {
                    offset: entry_start,
                    reason: format!("variable {name:?} has rank {rank} (at most {MAX_RANK} supported)"),
                });
            }
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                shape.push(c.u32("a variable dimension")? as usize);
            }
            let (dtype, num_bytes) = if binary_version >= 4 {
                let id = c.u8("a variable type")?;
                let dtype = Ct2Dtype::from_id(id).ok_or_else(|| Ct2Error::Malformed {
                    offset: entry_start,
                    reason: format!("variable {name:?} has unknown type id {id}"),
                })?;
                (dtype, u64::from(c.u32("a variable size")?))
            } else {
                let size = c.u8("a variable item size")?;
                let dtype = Ct2Dtype::from_item_size(size).ok_or_else(|| Ct2Error::Malformed {
                    offset: entry_start,
                    reason: format!("variable {name:?} has unknown item size {size}"),
                })?;
                (dtype, u64::from(c.u32("a variable size")?) * u64::from(size))
            };
            let elements = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
            let expected = elements.and_then(|n| n.checked_mul(dtype.size() as u64));
            if expected != Some(num_bytes) {
                return Err(Ct2Error::Malformed {
                    offset: entry_start,
                    reason: format!("variable {name:?}: shape {shape:?} of {dtype} does not make {num_bytes} bytes"),
                });
            }
            let offset = c.pos;
            c.skip(num_bytes, "variable data")?;
            if by_name.insert(name.clone(), variables.len()).is_some() {
                return Err(Ct2Error::Malformed {
                    offset: entry_start,
                    reason: format!("variable {name:?} appears twice"),
                });
            }
            variables.push(Ct2Variable { name, shape, dtype, offset, num_bytes });
        }

        let mut aliases = Vec::new();
        if binary_version >= 3 {
            let count = c.u32("the alias count")?;
            // Each alias takes at least 2 × 3 bytes.
            if u64::from(count) > c.remaining() / 6 {
                return Err(Ct2Error::Malformed {
                    offset: c.pos,
                    reason: format!("{count} aliases cannot fit in {} bytes", c.remaining()),
                });
            }
            for _ in 0..count {
                let at = c.pos;
                let alias = c.string("an alias name")?;
                let target = c.string("an alias target")?;
                if !by_name.contains_key(&target) {
                    return Err(Ct2Error::Malformed {
                        offset: at,
                        reason: format!("alias {alias:?} names a missing variable {target:?}"),
                    });
                }
                if by_name.contains_key(&alias) {
                    return Err(Ct2Error::Malformed {
                        offset: at,
                        reason: format!("alias {alias:?} shadows a variable"),
                    });
                }
                aliases.push((alias, target));
            }
        }
        if c.remaining() > 0 {
            return Err(Ct2Error::TrailingData { count: c.remaining() });
        }

        Ok(Self { binary_version, spec_name, spec_revision, variables, aliases, by_name, source })
    }

    /// A variable by name (aliases resolved).
    pub fn get(&self, name: &str) -> Option<&Ct2Variable> {
        let name = self.aliases.iter().find(|(a, _)| a == name).map(|(_, t)| t.as_str()).unwrap_or(name);
        self.by_name.get(name).map(|&i| &self.variables[i])
    }

    /// A variable by name, or [`Ct2Error::MissingVariable`].
    pub fn require(&self, name: &str) -> Result<&Ct2Variable, Ct2Error> {
        self.get(name).ok_or_else(|| Ct2Error::MissingVariable(name.to_owned()))
    }

    /// Reads a variable's raw little-endian data. The size was checked
    /// against the file length when the index was parsed.
    pub fn read(&mut self, name: &str) -> Result<(Ct2Variable, Vec<u8>), Ct2Error> {
        let var = self.require(name)?.clone();
        let len = usize::try_from(var.num_bytes).map_err(|_| Ct2Error::Malformed {
            offset: var.offset,
            reason: format!("variable {name:?} is too large for this machine"),
        })?;
        self.source.seek(SeekFrom::Start(var.offset))?;
        let mut data = vec![0u8; len];
        self.source.read_exact(&mut data).map_err(|e| match e.kind() {
            // The file shrank after it was indexed.
            io::ErrorKind::UnexpectedEof => {
                Ct2Error::Truncated { offset: var.offset, needed: var.num_bytes, what: "variable data" }
            }
            _ => Ct2Error::Io(e),
        })?;
        Ok((var, data))
    }

    /// A scalar integer option (i8, i16 or i32), if present.
    pub fn scalar_int(&mut self, name: &str) -> Result<Option<i64>, Ct2Error> {
        let Some(var) = self.get(name) else { return Ok(None) };
        if !var.shape.is_empty() && var.num_elements() != 1 {
            return Err(Ct2Error::Malformed {
                offset: var.offset,
                reason: format!("{name:?} should be a scalar, has shape {:?}", var.shape),
            });
        }
        let (var, data) = self.read(name)?;
        let value = match var.dtype {
            Ct2Dtype::I8 => i64::from(data[0] as i8),
            Ct2Dtype::I16 => i64::from(i16::from_le_bytes([data[0], data[1]])),
            Ct2Dtype::I32 => i64::from(i32::from_le_bytes([data[0], data[1], data[2], data[3]])),
            other => {
                return Err(Ct2Error::Malformed {
                    offset: var.offset,
                    reason: format!("{name:?} should be an integer, is {other}"),
                });
            }
        };
        Ok(Some(value))
    }
}

/// Writes a CTranslate2 model file (version 6) from in-memory variables:
/// for tests and fixtures.
#[cfg(test)]
pub(crate) fn write_test_model(
    spec: &str,
    revision: u32,
    vars: &[(&str, Vec<usize>, u8, Vec<u8>)],
    aliases: &[(&str, &str)],
) -> Vec<u8> {
    fn s(out: &mut Vec<u8>, v: &str) {
        out.extend_from_slice(&((v.len() + 1) as u16).to_le_bytes());
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    let mut sorted: Vec<_> = vars.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::new();
    out.extend_from_slice(&6u32.to_le_bytes());
    s(&mut out, spec);
    out.extend_from_slice(&revision.to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for (name, shape, dtype, data) in sorted {
        s(&mut out, name);
        out.push(shape.len() as u8);
        for d in shape {
            out.extend_from_slice(&(*d as u32).to_le_bytes());
        }
        out.push(*dtype);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out.extend_from_slice(&(aliases.len() as u32).to_le_bytes());
    for (a, t) in aliases {
        s(&mut out, a);
        s(&mut out, t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor as IoCursor;

    fn sample() -> Vec<u8> {
        let w: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        write_test_model(
            "WhisperSpec",
            3,
            &[
                ("encoder/num_heads", vec![], 2, 6i16.to_le_bytes().to_vec()),
                ("encoder/w", vec![2, 3], 0, w),
                ("decoder/flag", vec![], 1, vec![1]),
            ],
            &[("decoder/alias", "encoder/w")],
        )
    }

    #[test]
    fn parses_index_and_reads_data() {
        let mut m = Ct2Model::parse(IoCursor::new(sample())).unwrap();
        assert_eq!((m.binary_version, m.spec_name.as_str(), m.spec_revision), (6, "WhisperSpec", 3));
        assert_eq!(m.variables.len(), 3);
        assert_eq!(m.variables[0].name, "decoder/flag"); // sorted on write
        let w = m.require("encoder/w").unwrap();
        assert_eq!((w.shape.as_slice(), w.dtype, w.num_bytes), (&[2usize, 3][..], Ct2Dtype::F32, 24));
        let (_, data) = m.read("decoder/alias").unwrap();
        assert_eq!(f32::from_le_bytes(data[20..24].try_into().unwrap()), 6.0);
        assert_eq!(m.scalar_int("encoder/num_heads").unwrap(), Some(6));
        assert_eq!(m.scalar_int("decoder/flag").unwrap(), Some(1));
        assert_eq!(m.scalar_int("decoder/absent").unwrap(), None);
        assert!(m.scalar_int("encoder/w").is_err());
        assert!(matches!(m.read("nope"), Err(Ct2Error::MissingVariable(_))));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = sample();
        for cut in 0..full.len() {
            let r = Ct2Model::parse(IoCursor::new(full[..cut].to_vec()));
            assert!(r.is_err(), "truncated at {cut} parsed");
        }
    }

    #[test]
    fn every_single_byte_corruption_is_handled() {
        let full = sample();
        for i in 0..full.len() {
            for v in [0x00u8, 0xFF, 0x7F, 0x80] {
                let mut bad = full.clone();
                bad[i] = v;
                // Either an error or a (different) valid parse; never a panic.
                if let Ok(mut m) = Ct2Model::parse(IoCursor::new(bad)) {
                    let names: Vec<String> = m.variables.iter().map(|v| v.name.clone()).collect();
                    for n in names {
                        let _ = m.read(&n);
                        let _ = m.scalar_int(&n);
                    }
                }
            }
        }
    }

    #[test]
    fn hostile_sizes_are_refused_before_allocating() {
        // Claims 4 billion variables in a tiny file.
        let mut bad = Vec::new();
        bad.extend_from_slice(&6u32.to_le_bytes());
        bad.extend_from_slice(&2u16.to_le_bytes());
        bad.extend_from_slice(b"X\0");
        bad.extend_from_slice(&1u32.to_le_bytes());
        bad.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(Ct2Model::parse(IoCursor::new(bad)), Err(Ct2Error::Malformed { .. })));

        // A variable whose declared bytes exceed the file.
        let mut m = write_test_model("X", 1, &[("a", vec![0x1000_0000], 0, vec![0; 16])], &[]);
        let size_at = m.len() - 4 - 16 - 4; // aliases count, data, then the size field
        m[size_at..size_at + 4].copy_from_slice(&0x4000_0000u32.to_le_bytes());
        assert!(matches!(Ct2Model::parse(IoCursor::new(m)), Err(Ct2Error::Truncated { .. })));

        // Shape that overflows u64 when multiplied.
        let m = write_test_model("X", 1, &[("a", vec![u32::MAX as usize; 8], 0, vec![])], &[]);
        assert!(matches!(Ct2Model::parse(IoCursor::new(m)), Err(Ct2Error::Malformed { .. })));
    }

    #[test]
    fn structural_problems_are_reported() {
        let mut v = sample();
        v[0] = 9;
        assert!(matches!(Ct2Model::parse(IoCursor::new(v)), Err(Ct2Error::UnsupportedVersion(9))));

        let mut v = sample();
        v.push(0);
        assert!(matches!(Ct2Model::parse(IoCursor::new(v)), Err(Ct2Error::TrailingData { count: 1 })));

        let v = write_test_model("X", 1, &[("a", vec![1], 0, vec![0; 4])], &[("b", "missing")]);
        assert!(matches!(Ct2Model::parse(IoCursor::new(v)), Err(Ct2Error::Malformed { .. })));

        let v = write_test_model("X", 1, &[("a", vec![1], 9, vec![0; 4])], &[]);
        assert!(matches!(Ct2Model::parse(IoCursor::new(v)), Err(Ct2Error::Malformed { .. })));
    }
}
