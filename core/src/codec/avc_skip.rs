//! H.264 pictures that repeat the last one. A P picture whose macroblocks are all
//! skipped shows its reference picture again: a P_Skip macroblock has no residual,
//! and its motion vector is predicted from neighbours that are skipped too, so it
//! is zero (8.4.1.1). Video whose encoder stalls while its sound goes on is
//! continued with them (`fmp4/hold.rs`), so every browser finds pictures where it
//! plays, and decodes nothing but copies.
//!
//! Each is a non-reference picture (nal_ref_idc 0): the decoder's reference
//! pictures, frame_num and POC state stay as the stream left them, and the
//! stream's next picture decodes as if none had been inserted. What a repeated
//! picture must agree with is read from the parameter sets (the record's, and any
//! sent in band) and from the first slice header of each of the stream's pictures:
//! - frame_num: the last reference picture's plus one (7.4.3), as the B pictures
//!   of a stream whose B pictures are not references have it;
//! - the picture it repeats: the reference picture presented last (the highest
//!   POC), put first in its reference list (ref_pic_list_modification) when it is
//!   not the last one decoded (pyramid B pictures);
//! - its POC (type 0): that picture's plus one, so that it is presented after every
//!   picture decoded so far, and before the next ones (POC type 2 derives it the
//!   same way from frame_num).
//!
//! The slice is entropy-coded as the PPS says: CAVLC one mb_skip_run, CABAC an
//! mb_skip_flag and an end_of_slice_flag per macroblock, at a slice QP
//! ([`SLICE_QP`]) where a skipped macroblock is its context's most probable symbol
//! (9.3.1.1), so only that path of the arithmetic coder is needed.
//!
//! None are made for what this does not follow: MBAFF, field pictures, separate
//! colour planes, slice groups, POC type 1 (which x264, OBS and cameras do not
//! use), or a picture larger than level 6.2 allows. Nor before the first keyframe
//! of the stream (or after [`SkipPictures::forget`]) nor after a picture whose
//! slice header did not parse, until the next keyframe.

use alloc::vec::Vec;
use bytes::Bytes;

use super::avc::{AvcConfig, Sps, SpsSlices, unescape_rbsp};
use super::bits::BitWriter;
use super::{BitReader, CodecError, length_prefixed};

const PPS: &str = "PPS";
const SLICE: &str = "slice header";

/// The slice QP of a repeated picture (26 + pic_init_qp_minus26 + slice_qp_delta).
/// No residual is coded, so it changes nothing but the CABAC contexts' start.
const SLICE_QP: i64 = 26;
/// preCtxState (9-5) of mb_skip_flag's context in P slices when its neighbours
/// are skipped (ctxIdx 11; m 23, n 33 for cabac_init_idc 0, table 9-13).
const SKIP_PRE_STATE: i64 = ((23 * SLICE_QP) >> 4) + 33;
// 64 and over: valMPS is 1, a skipped macroblock the most probable symbol.
const _: () = assert!(SKIP_PRE_STATE >= 64 && SKIP_PRE_STATE <= 126);
/// The largest picture (MaxFS of level 6.2, table A-1), in macroblocks.
const MAX_FRAME_MBS: u64 = 139_264;
/// The parameter sets kept, by id: 32 SPS and 256 PPS at most (7.4.2.1, 7.4.2.2).
const MAX_SPS: usize = 32;
const MAX_PPS: usize = 256;
/// Reference pictures remembered to choose the one presented last.
const MAX_REFS: usize = 16;

/// rangeTabLPS (table 9-44): the range of the least probable symbol, by
/// pStateIdx and qCodIRangeIdx.
const RANGE_LPS: [[u8; 4]; 64] = [
    [128, 176, 208, 240],
    [128, 167, 197, 227],
    [128, 158, 187, 216],
    [123, 150, 178, 205],
    [116, 142, 169, 195],
    [111, 135, 160, 185],
    [105, 128, 152, 175],
    [100, 122, 144, 166],
    [95, 116, 137, 158],
    [90, 110, 130, 150],
    [85, 104, 123, 142],
    [81, 99, 117, 135],
    [77, 94, 111, 128],
    [73, 89, 105, 122],
    [69, 85, 100, 116],
    [66, 80, 95, 110],
    [62, 76, 90, 104],
    [59, 72, 86, 99],
    [56, 69, 81, 94],
    [53, 65, 77, 89],
    [51, 62, 73, 85],
    [48, 59, 69, 80],
    [46, 56, 66, 76],
    [43, 53, 63, 72],
    [41, 50, 59, 69],
    [39, 48, 56, 65],
    [37, 45, 54, 62],
    [35, 43, 51, 59],
    [33, 41, 48, 56],
    [32, 39, 46, 53],
    [30, 37, 43, 50],
    [29, 35, 41, 48],
    [27, 33, 39, 45],
    [26, 31, 37, 43],
    [24, 30, 35, 41],
    [23, 28, 33, 39],
    [22, 27, 32, 37],
    [21, 26, 30, 35],
    [20, 24, 29, 33],
    [19, 23, 27, 31],
    [18, 22, 26, 30],
    [17, 21, 25, 28],
    [16, 20, 23, 27],
    [15, 19, 22, 25],
    [14, 18, 21, 24],
    [14, 17, 20, 23],
    [13, 16, 19, 22],
    [12, 15, 18, 21],
    [12, 14, 17, 20],
    [11, 14, 16, 19],
    [11, 13, 15, 18],
    [10, 12, 15, 17],
    [10, 12, 14, 16],
    [9, 11, 13, 15],
    [9, 11, 12, 14],
    [8, 10, 12, 14],
    [8, 9, 11, 13],
    [7, 9, 11, 12],
    [7, 9, 10, 12],
    [7, 8, 10, 11],
    [6, 8, 9, 11],
    [6, 7, 9, 10],
    [6, 7, 8, 9],
    [2, 2, 2, 2],
];

/// What a slice header needs of a picture parameter set (7.3.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pps {
    id: u32,
    sps_id: u32,
    cabac: bool,
    bottom_field_pic_order_in_frame_present: bool,
    weighted_pred: bool,
    pic_init_qp_minus26: i64,
    deblocking_filter_control_present: bool,
    redundant_pic_cnt_present: bool,
}

impl Pps {
    /// A PPS NAL unit, header byte included.
    fn parse(nal: &[u8]) -> Result<Self, CodecError> {
        let (rbsp, removed) = unescape_rbsp(nal.get(1..).unwrap_or_default());
        let mut r = BitReader::new(&rbsp, PPS).with_removed(&removed, 1);
        let id = r.ue("pic_parameter_set_id")?;
        if id as usize >= MAX_PPS {
            return Err(r.invalid("pic_parameter_set_id", id.into()));
        }
        let sps_id = r.ue("seq_parameter_set_id")?;
        let cabac = r.bit()?;
        let bottom_field_pic_order_in_frame_present = r.bit()?;
        // Slice groups (FMO) are not followed: such a PPS is not kept, and a
        // picture that names it gets no repeat.
        let slice_groups = r.ue("num_slice_groups_minus1")?;
        if slice_groups > 0 {
            return Err(r.invalid("num_slice_groups_minus1", slice_groups.into()));
        }
        r.ue("num_ref_idx_l0_default_active_minus1")?;
        r.ue("num_ref_idx_l1_default_active_minus1")?;
        let weighted_pred = r.bit()?;
        r.skip(2)?; // weighted_bipred_idc
        let pic_init_qp_minus26 = r.se("pic_init_qp_minus26")?;
        if !(-64..=25).contains(&pic_init_qp_minus26) {
            return Err(r.invalid("pic_init_qp_minus26", pic_init_qp_minus26.unsigned_abs()));
        }
        r.se("pic_init_qs_minus26")?;
        r.se("chroma_qp_index_offset")?;
        let deblocking_filter_control_present = r.bit()?;
        r.skip(1)?; // constrained_intra_pred_flag
        let redundant_pic_cnt_present = r.bit()?;
        Ok(Pps {
            id,
            sps_id,
            cabac,
            bottom_field_pic_order_in_frame_present,
            weighted_pred,
            pic_init_qp_minus26,
            deblocking_filter_control_present,
            redundant_pic_cnt_present,
        })
    }
}

/// A reference picture: its frame_num and POC (0 for POC type 2, where decode
/// order is presentation order: of equal ones, the newest is presented last).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RefPic {
    frame_num: u32,
    poc: i64,
}

/// The stream as a decoder has it after its last picture.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decoded {
    pps_id: u32,
    /// The last reference pictures decoded, newest last.
    refs: Vec<RefPic>,
    /// prevPicOrderCntMsb and prevPicOrderCntLsb (8.2.1.1): the last reference
    /// picture's.
    prev_poc: (i64, u32),
    /// The highest POC of any picture since the keyframe.
    max_poc: i64,
}

/// Makes H.264 pictures that repeat the last one; see the module comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipPictures {
    nal_length_size: u8,
    sps: Vec<SpsSlices>,
    pps: Vec<Pps>,
    decoded: Option<Decoded>,
}

impl SkipPictures {
    /// From the stream's decoder configuration record; parameter sets that do not
    /// parse are left out (a picture that names one gets no repeat).
    pub fn new(config: &AvcConfig) -> Self {
        let mut skip = SkipPictures {
            nal_length_size: config.nal_length_size,
            sps: Vec::new(),
            pps: Vec::new(),
            decoded: None,
        };
        for nal in config.sps.iter().chain(&config.pps) {
            skip.parameter_set(nal);
        }
        skip
    }

    /// Nothing to repeat until the next keyframe: the pictures to come are not the
    /// last ones' successors (a new session, a jump in time).
    pub fn forget(&mut self) {
        self.decoded = None;
    }

    /// Reads a coded frame of the stream (AVCC NAL units): its parameter sets, and
    /// the first slice header of its picture.
    pub fn observe(&mut self, frame: &[u8], keyframe: bool) {
        for nal in length_prefixed(frame, usize::from(self.nal_length_size)) {
            let Ok(nal) = nal else { return };
            match nal.first().map(|h| h & 0x1f) {
                Some(7 | 8) => self.parameter_set(nal),
                Some(1 | 5) => {
                    if self.picture(nal, keyframe).is_err() {
                        self.decoded = None;
                    }
                    return;
                }
                // Data partitioning (Extended profile): not followed.
                Some(2..=4) => {
                    self.decoded = None;
                    return;
                }
                _ => {}
            }
        }
    }

    /// Whether the stream is followed since its last keyframe: [`SkipPictures::repeat`]
    /// can make a picture, unless the last one's POC is out of its reach.
    pub fn follows(&self) -> bool {
        self.decoded.is_some()
    }

    /// A coded frame that repeats the last picture (AVCC, one NAL unit), or `None`
    /// when there is none to repeat or the stream is one this does not follow.
    pub fn repeat(&self) -> Option<Bytes> {
        let d = self.decoded.as_ref()?;
        let (sps, pps) = self.sets(d.pps_id)?;
        let frame_num = d.refs.last()?.frame_num.wrapping_add(1) & mask(sps.log2_max_frame_num);
        // The reference picture presented last, which the picture repeats.
        let shown = d.refs.iter().max_by_key(|r| r.poc)?;
        let back = frame_num.wrapping_sub(shown.frame_num) & mask(sps.log2_max_frame_num);
        if back == 0 || back > sps.max_num_ref_frames.max(1) {
            return None;
        }
        let mut w = BitWriter::default();
        w.bits(8, 0x01) // nal_ref_idc 0, nal_unit_type 1
            .ue(0) // first_mb_in_slice
            .ue(5) // slice_type: P, as every slice of the picture
            .ue(pps.id)
            .bits(sps.log2_max_frame_num, frame_num.into());
        if !sps.frame_mbs_only {
            w.bits(1, 0); // field_pic_flag
        }
        if sps.pic_order_cnt_type == 0 {
            let (prev_msb, prev_lsb) = d.prev_poc;
            let poc = d.max_poc + 1;
            let half = 1i64 << (sps.log2_max_poc_lsb - 1);
            // The decoder derives the POC from the lsb near the previous reference's.
            if (poc - (prev_msb + i64::from(prev_lsb))).abs() >= half {
                return None;
            }
            w.bits(sps.log2_max_poc_lsb, (poc & (2 * half - 1)) as u64);
            if pps.bottom_field_pic_order_in_frame_present {
                w.se(0); // delta_pic_order_cnt_bottom
            }
        }
        if pps.redundant_pic_cnt_present {
            w.ue(0);
        }
        // num_ref_idx_active_override_flag, num_ref_idx_l0_active_minus1 0.
        w.bits(1, 1).ue(0);
        if back > 1 {
            // ref_pic_list_modification_flag_l0, modification_of_pic_nums_idc 0
            // (subtract), abs_diff_pic_num_minus1, then 3 (end).
            w.bits(1, 1).ue(0).ue(back - 1).ue(3);
        } else {
            w.bits(1, 0);
        }
        if pps.weighted_pred {
            // pred_weight_table: denominators 0, no weights (the defaults).
            w.ue(0);
            if sps.chroma_array_type != 0 {
                w.ue(0);
            }
            w.bits(1, 0);
            if sps.chroma_array_type != 0 {
                w.bits(1, 0);
            }
        }
        if pps.cabac {
            w.ue(0); // cabac_init_idc
        }
        w.se(SLICE_QP - 26 - pps.pic_init_qp_minus26);
        if pps.deblocking_filter_control_present {
            w.ue(1); // disable_deblocking_filter_idc: nothing to filter anyway
        }
        if pps.cabac {
            while w.bit_len() % 8 != 0 {
                w.bits(1, 1); // cabac_alignment_one_bit
            }
            skipped_cabac(&mut w, sps.frame_mbs);
        } else {
            w.ue(u32::try_from(sps.frame_mbs).ok()?); // mb_skip_run
            w.bits(1, 1); // rbsp_stop_one_bit
        }
        let nal = escape_rbsp(w.as_slice());
        // In u64: a 32-bit usize (wasm) shifted by 32 would not be zero.
        let size = usize::from(self.nal_length_size);
        let len = nal.len() as u64;
        if len >> (8 * size) != 0 {
            return None;
        }
        let mut frame = Vec::with_capacity(nal.len() + size);
        let len = len.to_be_bytes();
        frame.extend_from_slice(len.get(len.len().checked_sub(size)?..)?);
        frame.extend_from_slice(&nal);
        Some(frame.into())
    }

    /// The PPS of that id and its SPS, if this follows pictures that use them.
    fn sets(&self, pps_id: u32) -> Option<(&SpsSlices, &Pps)> {
        let pps = self.pps.iter().find(|p| p.id == pps_id)?;
        let sps = self.sps.iter().find(|s| s.id == pps.sps_id)?;
        let followed = !sps.mbaff
            && !sps.separate_colour_plane
            && sps.pic_order_cnt_type != 1
            && sps.frame_mbs <= MAX_FRAME_MBS;
        followed.then_some((sps, pps))
    }

    /// Keeps an SPS or PPS, replacing the one of the same id.
    fn parameter_set(&mut self, nal: &[u8]) {
        match nal.first().map(|h| h & 0x1f) {
            Some(7) => {
                if let Ok((_, sps)) = Sps::parse_with_slices(nal) {
                    keep(&mut self.sps, sps, MAX_SPS, |s| s.id == sps.id);
                }
            }
            Some(8) => {
                if let Ok(pps) = Pps::parse(nal) {
                    keep(&mut self.pps, pps, MAX_PPS, |p| p.id == pps.id);
                }
            }
            _ => {}
        }
    }

    /// A picture's first slice NAL unit: follows frame_num and POC.
    fn picture(&mut self, nal: &[u8], keyframe: bool) -> Result<(), CodecError> {
        let header = nal.first().copied().unwrap_or_default();
        let reference = header & 0x60 != 0;
        let idr = header & 0x1f == 5;
        // The fields read end well within the first 32 bytes.
        let (rbsp, removed) = unescape_rbsp(nal.get(1..nal.len().min(33)).unwrap_or_default());
        let mut r = BitReader::new(&rbsp, SLICE).with_removed(&removed, 1);
        let first_mb = r.ue("first_mb_in_slice")?;
        if first_mb != 0 {
            return Err(r.invalid("first_mb_in_slice", first_mb.into()));
        }
        r.ue("slice_type")?;
        let pps_id = r.ue("pic_parameter_set_id")?;
        let Some((sps, _)) = self.sets(pps_id) else {
            return Err(r.invalid("pic_parameter_set_id", pps_id.into()));
        };
        let sps = *sps;
        let frame_num = r.bits(sps.log2_max_frame_num)?;
        if !sps.frame_mbs_only && r.bit()? {
            return Err(r.invalid("field_pic_flag", 1));
        }
        if idr {
            r.ue("idr_pic_id")?;
        }
        let lsb = if sps.pic_order_cnt_type == 0 {
            r.bits(sps.log2_max_poc_lsb)?
        } else {
            0
        };
        if idr || (keyframe && self.decoded.is_none()) {
            self.decoded = Some(Decoded {
                pps_id,
                refs: Vec::new(),
                prev_poc: (0, 0),
                max_poc: i64::MIN,
            });
        }
        let Some(d) = self.decoded.as_mut() else {
            return Ok(());
        };
        // 8.2.1.1: the POC's msb from the lsb's step since the last reference.
        let poc = if sps.pic_order_cnt_type == 0 {
            let (prev_msb, prev_lsb) = d.prev_poc;
            let max = 1i64 << sps.log2_max_poc_lsb;
            let (l, p) = (i64::from(lsb), i64::from(prev_lsb));
            let msb = if l < p && p - l >= max / 2 {
                prev_msb + max
            } else if l > p && l - p > max / 2 {
                prev_msb - max
            } else {
                prev_msb
            };
            msb + l
        } else {
            0
        };
        d.pps_id = pps_id;
        d.max_poc = d.max_poc.max(poc);
        if reference {
            d.prev_poc = (poc - i64::from(lsb), lsb);
            if d.refs.len() == MAX_REFS {
                d.refs.remove(0);
            }
            d.refs.push(RefPic { frame_num, poc });
        }
        Ok(())
    }
}

fn keep<T>(sets: &mut Vec<T>, set: T, max: usize, same: impl Fn(&T) -> bool) {
    if let Some(old) = sets.iter_mut().find(|s| same(s)) {
        *old = set;
    } else if sets.len() < max {
        sets.push(set);
    }
}

fn mask(bits: u32) -> u32 {
    (1u32 << bits) - 1
}

/// slice_data() of `mbs` skipped macroblocks, CABAC (9.3.4): each an
/// mb_skip_flag of 1 (its context's most probable symbol at [`SLICE_QP`]), then
/// an end_of_slice_flag, 1 after the last. The flush ends with the rbsp_stop_one_bit.
fn skipped_cabac(w: &mut BitWriter, mbs: u64) {
    let mut state = (SKIP_PRE_STATE - 64) as usize;
    let mut e = ArithmeticEncoder {
        w,
        low: 0,
        range: 510,
        outstanding: 0,
        first: true,
    };
    for i in 1..=mbs {
        let lps = u32::from(RANGE_LPS[state][(e.range >> 6 & 3) as usize]);
        e.range -= lps;
        state = (state + 1).min(62);
        e.renormalize();
        // end_of_slice_flag, decoded by the terminating path (9.3.4.5).
        e.range -= 2;
        if i == mbs {
            e.low += e.range;
            e.range = 2;
            e.renormalize();
            e.put_bit(e.low >> 9 & 1);
            e.w.bits(2, u64::from((e.low >> 7 & 3) | 1));
        } else {
            e.renormalize();
        }
    }
}

/// The arithmetic encoding engine's state (9.3.4.1).
struct ArithmeticEncoder<'a> {
    w: &'a mut BitWriter,
    low: u32,
    range: u32,
    outstanding: u32,
    first: bool,
}

impl ArithmeticEncoder<'_> {
    /// RenormE (figure 9-8).
    fn renormalize(&mut self) {
        while self.range < 256 {
            if self.low < 256 {
                self.put_bit(0);
            } else if self.low >= 512 {
                self.low -= 512;
                self.put_bit(1);
            } else {
                self.low -= 256;
                self.outstanding += 1;
            }
            self.range <<= 1;
            self.low <<= 1;
        }
    }

    /// PutBit (figure 9-9).
    fn put_bit(&mut self, bit: u32) {
        if self.first {
            self.first = false;
        } else {
            self.w.bits(1, bit.into());
        }
        for _ in 0..self.outstanding {
            self.w.bits(1, u64::from(1 - bit));
        }
        self.outstanding = 0;
    }
}

/// The RBSP as NAL unit payload: an emulation_prevention_three_byte after two
/// zero bytes that a byte of 3 or less follows (7.4.1).
fn escape_rbsp(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An SPS: Main, 20 × 15 macroblocks, frame_num and POC lsb of 4 bits.
    fn sps(poc_type: u32, frame_mbs_only: bool, mbaff: bool) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.bits(8, 77).bits(8, 0).bits(8, 30).ue(0);
        w.ue(0).ue(poc_type); // log2_max_frame_num_minus4, pic_order_cnt_type
        match poc_type {
            0 => {
                w.ue(0);
            }
            1 => {
                w.bits(1, 0).se(-2).se(0).ue(1).se(2);
            }
            _ => {}
        }
        w.ue(2).bits(1, 0); // max_num_ref_frames, gaps
        w.ue(19).ue(14);
        w.bits(1, frame_mbs_only.into());
        if !frame_mbs_only {
            w.bits(1, mbaff.into());
        }
        w.bits(1, 1).bits(1, 0).bits(1, 0); // direct_8x8_inference, no cropping, no VUI
        let mut nal = vec![0x67];
        nal.extend(w.finish_rbsp());
        nal
    }

    fn pps(cabac: bool, slice_groups: u32) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.ue(0)
            .ue(0)
            .bits(1, cabac.into())
            .bits(1, 0)
            .ue(slice_groups);
        if slice_groups == 0 {
            w.ue(0).ue(0).bits(1, 0).bits(2, 0).se(-3).se(0).se(0);
            w.bits(1, 1).bits(1, 0).bits(1, 0);
        } else {
            w.ue(0).ue(0).ue(0); // slice_group_map_type 0, run lengths
        }
        let mut nal = vec![0x68];
        nal.extend(w.finish_rbsp());
        nal
    }

    fn skip(sps: Vec<u8>, pps: Vec<u8>) -> SkipPictures {
        SkipPictures::new(&AvcConfig {
            profile: 77,
            compatibility: 0,
            level: 30,
            nal_length_size: 4,
            sps: vec![sps.into()],
            pps: vec![pps.into()],
        })
    }

    /// A coded frame: one slice whose header goes as far as the POC lsb.
    fn frame(idr: bool, reference: bool, frame_num: u32, lsb: Option<u32>) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.bits(
            8,
            u64::from(u8::from(reference) * 0x60 + if idr { 5 } else { 1 }),
        );
        w.ue(0)
            .ue(if idr { 7 } else { 5 })
            .ue(0)
            .bits(4, frame_num.into());
        if idr {
            w.ue(0);
        }
        if let Some(lsb) = lsb {
            w.bits(4, lsb.into());
        }
        let nal = w.finish_rbsp();
        let mut out = (nal.len() as u32).to_be_bytes().to_vec();
        out.extend(nal);
        out
    }

    /// A repeated picture's fields: frame_num, POC lsb (POC type 0), and the
    /// abs_diff_pic_num_minus1 of its reference list's modification, if any;
    /// then, CAVLC, its mb_skip_run.
    fn fields(repeat: &[u8], poc: bool) -> (u32, Option<u32>, Option<u32>, u32) {
        assert_eq!(
            u32::from_be_bytes(repeat[..4].try_into().unwrap()) as usize,
            repeat.len() - 4
        );
        assert_eq!(repeat[4], 0x01, "non-reference, non-IDR slice");
        let (rbsp, _) = unescape_rbsp(&repeat[5..]);
        let mut r = BitReader::new(&rbsp, "repeat");
        assert_eq!(
            (
                r.ue("first_mb").unwrap(),
                r.ue("type").unwrap(),
                r.ue("pps").unwrap()
            ),
            (0, 5, 0)
        );
        let frame_num = r.bits(4).unwrap();
        let lsb = poc.then(|| r.bits(4).unwrap());
        assert_eq!((r.bit().unwrap(), r.ue("num_ref_idx").unwrap()), (true, 0));
        let diff = r.bit().unwrap().then(|| {
            assert_eq!(r.ue("idc").unwrap(), 0);
            let d = r.ue("abs_diff_pic_num_minus1").unwrap();
            assert_eq!(r.ue("idc").unwrap(), 3);
            d
        });
        assert_eq!(
            r.se("slice_qp_delta").unwrap(),
            3,
            "QP 26 from pic_init_qp 23"
        );
        assert_eq!(r.ue("disable_deblocking_filter_idc").unwrap(), 1);
        (frame_num, lsb, diff, r.ue("mb_skip_run").unwrap())
    }

    #[test]
    fn a_repeat_follows_the_last_reference_and_comes_after_every_picture() {
        let mut s = skip(sps(0, true, false), pps(false, 0));
        assert_eq!(s.repeat(), None, "nothing before a keyframe");
        s.observe(&frame(false, true, 3, Some(6)), false);
        assert_eq!(s.repeat(), None, "nor before an IDR or a keyframe");
        // I P b: the b is not a reference.
        s.observe(&frame(true, true, 0, Some(0)), true);
        s.observe(&frame(false, true, 1, Some(4)), false);
        s.observe(&frame(false, false, 2, Some(2)), false);
        let repeat = s.repeat().expect("a repeat");
        assert_eq!(fields(&repeat, true), (2, Some(5), None, 300));
        // A pyramid: P (POC 12) then a B reference (POC 8), presented before it.
        s.observe(&frame(false, true, 2, Some(12)), false);
        s.observe(&frame(false, true, 3, Some(8)), false);
        assert_eq!(
            fields(&s.repeat().unwrap(), true),
            (4, Some(13), Some(1), 300)
        );
        // POC lsb wraps at 16: 14, then 2 is 18.
        s.observe(&frame(false, true, 4, Some(14)), false);
        s.observe(&frame(false, true, 5, Some(2)), false);
        assert_eq!(fields(&s.repeat().unwrap(), true), (6, Some(3), None, 300));
        // frame_num wraps at 16 as well.
        for n in 6..=15 {
            s.observe(&frame(false, true, n, Some(2)), false);
        }
        assert_eq!(fields(&s.repeat().unwrap(), true).0, 0);
        s.forget();
        assert_eq!(s.repeat(), None, "forgotten until the next keyframe");
    }

    #[test]
    fn poc_type_2_and_cabac() {
        let mut s = skip(sps(2, true, false), pps(true, 0));
        s.observe(&frame(true, true, 0, None), true);
        s.observe(&frame(false, true, 1, None), false);
        let repeat = s.repeat().unwrap();
        assert_eq!(repeat[4], 0x01);
        // CABAC: 300 macroblocks, each a most probable bin and a terminating one.
        assert!(repeat.len() < 40, "{} bytes", repeat.len());
        // A keyframe that is not IDR (a recovery point) goes on from the state.
        s.observe(&frame(false, true, 2, None), true);
        assert!(s.repeat().is_some());
    }

    #[test]
    fn what_it_does_not_follow_gets_no_repeat() {
        for (sps, pps) in [
            (sps(0, false, true), pps(false, 0)), // MBAFF
            (sps(1, true, false), pps(false, 0)), // POC type 1
            (sps(0, true, false), pps(false, 2)), // slice groups
        ] {
            let mut s = skip(sps, pps);
            s.observe(&frame(true, true, 0, Some(0)), true);
            assert_eq!(s.repeat(), None);
        }
        // A slice that names an unknown PPS, or is cut short: none until a keyframe.
        let mut s = skip(sps(0, true, false), pps(false, 0));
        s.observe(&frame(true, true, 0, Some(0)), true);
        assert!(s.repeat().is_some());
        s.observe(&[0, 0, 0, 2, 0x41, 0x9f], false);
        assert_eq!(s.repeat(), None);
        s.observe(&frame(false, true, 1, Some(2)), false);
        assert_eq!(s.repeat(), None);
        s.observe(&frame(false, true, 2, Some(4)), true);
        assert!(s.repeat().is_some() && s.follows());
        // A data partition (Extended profile) is not followed either.
        s.observe(&[0, 0, 0, 2, 0x42, 0x80], false);
        assert!(!s.follows());
        s.observe(&frame(false, true, 3, Some(6)), true);
        // Parameter sets in band replace the record's: now CABAC.
        let mut pps_nal = (pps(true, 0).len() as u32).to_be_bytes().to_vec();
        pps_nal.extend(pps(true, 0));
        s.observe(&pps_nal, false);
        assert!(s.repeat().is_some_and(|r| fields_cabac(&r)));
    }

    /// Whether a repeat's slice header says CABAC (cabac_init_idc after the list).
    fn fields_cabac(repeat: &[u8]) -> bool {
        let (rbsp, _) = unescape_rbsp(&repeat[5..]);
        let mut r = BitReader::new(&rbsp, "repeat");
        r.ue("").unwrap();
        r.ue("").unwrap();
        r.ue("").unwrap();
        r.bits(8).unwrap(); // frame_num, POC lsb
        r.bits(3).unwrap(); // override, 0, no modification
        r.ue("cabac_init_idc").unwrap() == 0 && r.se("slice_qp_delta").unwrap() == 3
    }

    #[test]
    fn a_large_cabac_picture_has_no_start_code_inside() {
        // High, 80 × 45 macroblocks (720p), POC type 2; CABAC.
        let mut w = BitWriter::default();
        w.bits(8, 100)
            .bits(8, 0)
            .bits(8, 40)
            .ue(0)
            .ue(1)
            .ue(0)
            .ue(0);
        w.bits(1, 0)
            .bits(1, 0)
            .ue(0)
            .ue(2)
            .ue(1)
            .bits(1, 0)
            .ue(79)
            .ue(44);
        w.bits(1, 1).bits(1, 1).bits(1, 0).bits(1, 0);
        let mut sps = vec![0x67];
        sps.extend(w.finish_rbsp());
        let mut s = skip(sps, pps(true, 0));
        s.observe(&frame(true, true, 0, None), true);
        let repeat = s.repeat().unwrap();
        let nal = &repeat[4..];
        // Its CABAC bits are mostly zeros: escaped where three would start a code.
        assert!(nal.windows(3).any(|w| w == [0, 0, 3]), "{nal:02x?}");
        assert!(
            nal.windows(3)
                .all(|w| !(w[0] == 0 && w[1] == 0 && w[2] < 3))
        );
        assert_ne!(nal.last(), Some(&0));
    }

    #[test]
    fn emulation_prevention() {
        assert_eq!(
            escape_rbsp(&[0, 0, 1, 0, 0, 0, 0, 0, 4]),
            [0, 0, 3, 1, 0, 0, 3, 0, 0, 3, 0, 4]
        );
        let (back, _) = unescape_rbsp(&escape_rbsp(&[0, 0, 0, 0, 3, 0, 0, 2]));
        assert_eq!(back, [0, 0, 0, 0, 3, 0, 0, 2]);
    }

    proptest! {
        #[test]
        fn never_panics(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8), cabac: bool, key: bool) {
            let mut s = skip(sps(0, true, false), pps(cabac, 0));
            s.observe(&frame(true, true, 0, Some(0)), true);
            for f in &frames {
                s.observe(f, key);
                let _ = s.repeat();
            }
        }

        #[test]
        fn random_parameter_sets_never_panic(sps in proptest::collection::vec(any::<u8>(), 0..40), pps in proptest::collection::vec(any::<u8>(), 0..20), f in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut s = skip([&[0x67][..], &sps].concat(), [&[0x68][..], &pps].concat());
            s.observe(&f, true);
            let _ = s.repeat();
        }
    }
}
