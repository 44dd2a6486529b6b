//! What the layer-wise optimizers (LAMB, LARS, NovoGrad) share: the blocks they take norms over.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::Block;
use crate::error::{Error, Result};

/// The lengths of the parameter blocks (a model's weight matrices and bias vectors, optax's
/// pytree leaves); none set means the whole vector is one block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Layers {
    lens: Vec<usize>,
}

impl Layers {
    /// Takes the blocks of [`super::Optimizer::set_layout`]; `state_len` is the length of the
    /// optimizer's state (0 before the first update), which the blocks must cover.
    pub(crate) fn set(&mut self, name: &str, blocks: &[Block], state_len: usize) -> Result<()> {
        let total: usize = blocks.iter().map(|b| b.len).sum();
        if state_len != 0 && total != state_len {
            return Err(Error::Dimension {
                field: format!("{name}.layout"),
                expected: state_len,
                got: total,
            });
        }
        self.lens = blocks.iter().map(|b| b.len).collect();
        Ok(())
    }

    /// The index ranges of the blocks of an `n`-vector.
    pub(crate) fn ranges(&self, name: &str, n: usize) -> Result<Vec<Range<usize>>> {
        if self.lens.is_empty() {
            return Ok(std::iter::once(0..n).collect());
        }
        let covered: usize = self.lens.iter().sum();
        if covered != n {
            return Err(Error::Dimension { field: format!("{name}.params"), expected: covered, got: n });
        }
        let mut start = 0;
        Ok(self
            .lens
            .iter()
            .map(|&len| {
                start += len;
                start - len..start
            })
            .collect())
    }
}
