//! A worked example of a user block: `invert` turns every 8-bit sample `v`
//! into `255 - v` (a photographic negative). Copy this file to start your own
//! block; nothing outside `blocks/` needs to change.

use framewire_sdk::prelude::*;

framewire_sdk::params! {
    /// Parameters, from the block's `[[block]]` table. This one declaration
    /// is the struct, its defaults, its parsing (a typo is an error that
    /// names the key and suggests the right one) and what `framewire blocks
    /// invert` prints.
    pub struct Params {
        /// Leave every n-th row as it is (0 = invert everything).
        skip_every_nth_row: u32 = 0,
    }
}

/// The running block: it owns its ports.
pub struct Invert {
    input: Input<Image>,
    output: Output<Image>,
    skip: u32,
}

/// The pure operation, usable without a pipeline (and tested below).
pub fn invert(src: &[u8], dst: &mut [u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = 255 - *s;
    }
}

impl BlockType for Invert {
    type Params = Params;

    fn info() -> BlockInfo {
        BlockInfo::new("invert", "Example user block (blocks/invert.rs): 255 - v for every 8-bit sample")
    }

    fn ports(_: &Params) -> Result<Ports, String> {
        let formats = [FourCC::RGB24, FourCC::BGR24, FourCC::GREY];
        Ok(Ports::new()
            .input("input", PortType::image(&formats, u32::MAX, u32::MAX))
            .output("output", PortType::image_from("input", &[])))
    }

    fn open(p: Params, setup: &mut Setup) -> Result<Self, BlockError> {
        Ok(Invert { input: setup.input("input")?, output: setup.output("output")?, skip: p.skip_every_nth_row })
    }

    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        // Wait at most one tick for a frame, so shutdown stays prompt.
        let Some(frame) = self.input.recv(cx.tick()) else { return Ok(Step::Idle) };
        let src = frame.image();
        // Write straight into a loaned slot of the output wire: no copies.
        let mut loan = self.output.loan(cx.tick())?;
        let dst = loan.image(src.format)?;
        let stride = src.format.stride as usize;
        for (y, (d, s)) in dst.data.chunks_mut(stride).zip(src.data.chunks(stride)).enumerate() {
            if self.skip > 0 && (y as u32).is_multiple_of(self.skip) {
                d.copy_from_slice(s);
            } else {
                invert(s, d);
            }
        }
        // Carry the capture time and source sequence number through.
        loan.commit_from(frame.meta())?;
        Ok(Step::Continue)
    }
}

/// Called by framewire at start (build.rs finds this file).
pub fn register(reg: &mut Registry) -> Result<(), framewire_sdk::block::RegistryError> {
    reg.add::<Invert>()
}

#[cfg(test)]
mod tests {
    #[test]
    fn inverts() {
        let mut out = [0u8; 3];
        super::invert(&[0, 100, 255], &mut out);
        assert_eq!(out, [255, 155, 0]);
    }
}
