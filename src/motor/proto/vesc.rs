//! VESC UART packets (the `bldc` firmware's `comm/packet.c` and
//! `comm/commands.c`).
//!
//! Framing (`packet.c`): a payload of up to 255 bytes travels as
//! `0x02, len, payload, crc16_hi, crc16_lo, 0x03`; up to 65535 bytes as
//! `0x03, len_hi, len_lo, payload, crc, 0x03`. The CRC is CRC-16/XMODEM of
//! the payload only ([`super::crc16_xmodem`], `crc.c`). The first payload
//! byte is the command ID (`datatypes.h`, `COMM_PACKET_ID`).
//!
//! Values are big-endian; "float" fields are scaled integers
//! (`buffer_append_float32(x, scale)` sends `(int32)(x * scale)`).

use super::{BadKind, Parse, crc16_xmodem};

/// `COMM_PACKET_ID` values used here (`datatypes.h`).
pub mod comm {
    /// Firmware version.
    pub const FW_VERSION: u8 = 0;
    /// Telemetry.
    pub const GET_VALUES: u8 = 4;
    /// Duty cycle × 100000 (i32).
    pub const SET_DUTY: u8 = 5;
    /// Motor current in mA (i32).
    pub const SET_CURRENT: u8 = 6;
    /// Brake current in mA (i32).
    pub const SET_CURRENT_BRAKE: u8 = 7;
    /// Electrical RPM (i32).
    pub const SET_RPM: u8 = 8;
    /// Resets the timeout without changing the setpoint.
    pub const ALIVE: u8 = 30;
    /// Forward the rest of the payload to CAN ID `payload[1]`.
    pub const FORWARD_CAN: u8 = 34;
}

/// Largest payload accepted from the wire (`PACKET_MAX_PL_LEN` is 512 in
/// current firmware).
pub const MAX_PAYLOAD: usize = 512;

/// Wraps a payload in the short or long frame.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(payload.len() + 6);
    if payload.len() <= 255 {
        p.push(0x02);
        p.push(payload.len() as u8);
    } else {
        p.push(0x03);
        p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    p.extend_from_slice(payload);
    p.extend_from_slice(&crc16_xmodem(payload).to_be_bytes());
    p.push(0x03);
    p
}

/// Decodes one frame's payload, skipping garbage before a start byte.
pub fn parse(buf: &[u8]) -> Parse<Vec<u8>> {
    let Some(start) = buf.iter().position(|&b| b == 0x02 || b == 0x03) else {
        return if buf.is_empty() { Parse::Need } else { Parse::Bad { used: buf.len(), kind: BadKind::Malformed } };
    };
    let b = &buf[start..];
    let (len, hdr) = match b[0] {
        0x02 => match b.get(1) {
            Some(&l) => (l as usize, 2),
            None => return Parse::Need,
        },
        _ => match (b.get(1), b.get(2)) {
            (Some(&h), Some(&l)) => (u16::from_be_bytes([h, l]) as usize, 3),
            _ => return Parse::Need,
        },
    };
    if len == 0 || len > MAX_PAYLOAD || (hdr == 3 && len <= 255) {
        return Parse::Bad { used: start + 1, kind: BadKind::Malformed };
    }
    let total = hdr + len + 3;
    if b.len() < total {
        return Parse::Need;
    }
    if b[total - 1] != 0x03 {
        return Parse::Bad { used: start + 1, kind: BadKind::Malformed };
    }
    let payload = &b[hdr..hdr + len];
    if crc16_xmodem(payload).to_be_bytes() != b[hdr + len..hdr + len + 2] {
        return Parse::Bad { used: start + total, kind: BadKind::Checksum };
    }
    Parse::Done { value: payload.to_vec(), used: start + total, skipped: start }
}

fn cmd_i32(id: u8, v: i32) -> Vec<u8> {
    let mut p = vec![id];
    p.extend_from_slice(&v.to_be_bytes());
    p
}

/// `COMM_SET_DUTY` payload: duty (-1..=1) × 100000.
pub fn set_duty(duty: f64) -> Vec<u8> {
    cmd_i32(comm::SET_DUTY, (duty.clamp(-1.0, 1.0) * 100_000.0).round() as i32)
}

/// `COMM_SET_CURRENT` payload: amps × 1000.
pub fn set_current(amps: f64) -> Vec<u8> {
    cmd_i32(comm::SET_CURRENT, (amps * 1000.0).round() as i32)
}

/// `COMM_SET_RPM` payload: electrical RPM.
pub fn set_rpm(erpm: i32) -> Vec<u8> {
    cmd_i32(comm::SET_RPM, erpm)
}

/// `COMM_ALIVE` payload.
pub fn alive() -> Vec<u8> {
    vec![comm::ALIVE]
}

/// `COMM_FW_VERSION` payload.
pub fn fw_version() -> Vec<u8> {
    vec![comm::FW_VERSION]
}

/// The answer to `COMM_FW_VERSION` (`commands.c`): the command byte, major,
/// minor, the hardware name (NUL-terminated), the STM32 UUID (12 bytes),
/// pairing done, the test version number, the hardware type, the number of
/// custom configurations, phase filters, the QML flags (hardware, app),
/// the NRF flags and the firmware name (NUL-terminated), as 6.x sends it.
/// Firmware before 3.x sent only major and minor; the decoder needs no more.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FwVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Hardware name, e.g. "60" (empty if not sent).
    pub hw_name: String,
    /// The microcontroller's unique ID.
    pub uuid: [u8; 12],
}

impl FwVersion {
    /// Decodes a `COMM_FW_VERSION` payload (command byte first).
    pub fn decode(p: &[u8]) -> Option<FwVersion> {
        let [comm::FW_VERSION, major, minor, rest @ ..] = p else { return None };
        let name_end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let hw_name = String::from_utf8_lossy(&rest[..name_end]).into_owned();
        let mut uuid = [0u8; 12];
        if let Some(u) = rest.get(name_end + 1..name_end + 13) {
            uuid.copy_from_slice(u);
        }
        Some(FwVersion { major: *major, minor: *minor, hw_name, uuid })
    }

    /// Encodes the full 6.x answer (simulator side).
    pub fn encode(&self) -> Vec<u8> {
        let mut p = vec![comm::FW_VERSION, self.major, self.minor];
        p.extend_from_slice(self.hw_name.as_bytes());
        p.push(0);
        p.extend_from_slice(&self.uuid);
        // pairing_done, FW_TEST_VERSION_NUMBER, HW_TYPE_VESC, custom config
        // count, phase filters, QML (hardware), QML (app), NRF flags.
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        // FW_NAME: empty for a release build.
        p.push(0);
        p
    }
}

/// `COMM_GET_VALUES` payload (no mask: every field).
pub fn get_values() -> Vec<u8> {
    vec![comm::GET_VALUES]
}

/// Wraps a payload so the VESC forwards it over CAN to `can_id`.
pub fn forward_can(can_id: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![comm::FORWARD_CAN, can_id];
    p.extend_from_slice(payload);
    p
}

/// The `COMM_GET_VALUES` answer of current firmware (6.x, all 22 mask
/// bits), in physical units.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Values {
    /// MOSFET temperature, °C (bit 0).
    pub temp_fet: f64,
    /// Motor temperature, °C (bit 1).
    pub temp_motor: f64,
    /// Average motor current, A (bit 2).
    pub current_motor: f64,
    /// Average input current, A (bit 3).
    pub current_in: f64,
    /// Average d-axis current, A (bit 4).
    pub id: f64,
    /// Average q-axis current, A (bit 5).
    pub iq: f64,
    /// Duty cycle, -1..=1 (bit 6).
    pub duty: f64,
    /// Electrical RPM (bit 7).
    pub erpm: f64,
    /// Input voltage, V (bit 8).
    pub v_in: f64,
    /// Amp hours drawn (bit 9).
    pub amp_hours: f64,
    /// Amp hours charged (bit 10).
    pub amp_hours_charged: f64,
    /// Watt hours drawn (bit 11).
    pub watt_hours: f64,
    /// Watt hours charged (bit 12).
    pub watt_hours_charged: f64,
    /// Tachometer, commutation steps (bit 13; 6 per electrical turn).
    pub tachometer: i32,
    /// Absolute tachometer (bit 14).
    pub tachometer_abs: i32,
    /// `mc_fault_code` (bit 15; 0 = none).
    pub fault: u8,
    /// PID position, degrees (bit 16).
    pub pid_pos: f64,
    /// Controller (CAN) ID (bit 17).
    pub controller_id: u8,
    /// MOSFET temperatures 1-3, °C (bit 18).
    pub temp_mos: [f64; 3],
    /// Average d-axis voltage, V (bit 19).
    pub vd: f64,
    /// Average q-axis voltage, V (bit 20).
    pub vq: f64,
    /// Status bits: 1 = timeout active, 2 = kill switch (bit 21).
    pub status: u8,
}

/// Length of the full `COMM_GET_VALUES` answer including the command byte.
pub const VALUES_LEN: usize = 74;

struct Rd<'a>(&'a [u8], usize);
impl Rd<'_> {
    fn i16(&mut self, scale: f64) -> Option<f64> {
        let b = self.0.get(self.1..self.1 + 2)?;
        self.1 += 2;
        Some(i16::from_be_bytes([b[0], b[1]]) as f64 / scale)
    }
    fn i32(&mut self) -> Option<i32> {
        let b = self.0.get(self.1..self.1 + 4)?;
        self.1 += 4;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn f32(&mut self, scale: f64) -> Option<f64> {
        Some(self.i32()? as f64 / scale)
    }
    fn u8(&mut self) -> Option<u8> {
        let b = *self.0.get(self.1)?;
        self.1 += 1;
        Some(b)
    }
}

/// Lengths (command byte included) of the `COMM_GET_VALUES` answers of
/// firmware 3.x and later, each adding fields to the one before: through
/// `fault` (54), `pid_pos` (58), `controller_id` (59), the three MOSFET
/// temperatures (65), `vd` and `vq` (73), `status` (74; later firmware may
/// append more). Firmware 2.x answers 56 bytes in another layout (six
/// MOSFET and one PCB temperature first, no d/q currents): decoded with
/// the 3.x layout, its duty cycle lands in the ERPM (tens of millions) and
/// its RPM in the input voltage, so it is refused, not guessed at.
pub const VALUES_LENS: [usize; 5] = [54, 58, 59, 65, 73];

impl Values {
    /// Decodes a `COMM_GET_VALUES` payload (command byte first). Firmware
    /// 3.x stops after fewer fields than 6.x; the missing ones stay zero, as
    /// VESC Tool does. A payload of any other length (firmware 2.x) is
    /// refused with a message saying why and what to do.
    pub fn decode_checked(p: &[u8]) -> Result<Values, String> {
        let n = p.len();
        if !(VALUES_LENS.contains(&n) || n >= VALUES_LEN) {
            return Err(format!(
                "COMM_GET_VALUES answer of {n} bytes is not the layout of firmware 3.x or later \
                 ({VALUES_LENS:?} or {VALUES_LEN}+ bytes; firmware 2.x sends 56): \
                 update the VESC's firmware with VESC Tool"
            ));
        }
        Values::decode(p).ok_or_else(|| "not a COMM_GET_VALUES answer".to_string())
    }

    /// Decodes a `COMM_GET_VALUES` payload (command byte first) with the
    /// 3.x-and-later layout, whatever its length. `None` if it is not a
    /// GET_VALUES payload or is shorter than the fields every firmware since
    /// 3.x sends (through `fault`). Prefer [`Values::decode_checked`].
    pub fn decode(p: &[u8]) -> Option<Values> {
        if p.first() != Some(&comm::GET_VALUES) {
            return None;
        }
        let mut r = Rd(p, 1);
        let mut v = Values {
            temp_fet: r.i16(10.0)?,
            temp_motor: r.i16(10.0)?,
            current_motor: r.f32(100.0)?,
            current_in: r.f32(100.0)?,
            id: r.f32(100.0)?,
            iq: r.f32(100.0)?,
            duty: r.i16(1000.0)?,
            erpm: r.f32(1.0)?,
            v_in: r.i16(10.0)?,
            amp_hours: r.f32(1e4)?,
            amp_hours_charged: r.f32(1e4)?,
            watt_hours: r.f32(1e4)?,
            watt_hours_charged: r.f32(1e4)?,
            tachometer: r.i32()?,
            tachometer_abs: r.i32()?,
            fault: r.u8()?,
            ..Default::default()
        };
        let mut rest = || -> Option<()> {
            v.pid_pos = r.f32(1e6)?;
            v.controller_id = r.u8()?;
            v.temp_mos = [r.i16(10.0)?, r.i16(10.0)?, r.i16(10.0)?];
            v.vd = r.f32(1e3)?;
            v.vq = r.f32(1e3)?;
            v.status = r.u8()?;
            Some(())
        };
        let _ = rest();
        Some(v)
    }

    /// Encodes the full answer, as firmware 6.x does (simulator side).
    pub fn encode(&self) -> Vec<u8> {
        let mut p = vec![comm::GET_VALUES];
        let i16s = |p: &mut Vec<u8>, x: f64, s: f64| p.extend_from_slice(&((x * s).round() as i16).to_be_bytes());
        let i32s = |p: &mut Vec<u8>, x: f64, s: f64| p.extend_from_slice(&((x * s).round() as i32).to_be_bytes());
        i16s(&mut p, self.temp_fet, 10.0);
        i16s(&mut p, self.temp_motor, 10.0);
        i32s(&mut p, self.current_motor, 100.0);
        i32s(&mut p, self.current_in, 100.0);
        i32s(&mut p, self.id, 100.0);
        i32s(&mut p, self.iq, 100.0);
        i16s(&mut p, self.duty, 1000.0);
        i32s(&mut p, self.erpm, 1.0);
        i16s(&mut p, self.v_in, 10.0);
        i32s(&mut p, self.amp_hours, 1e4);
        i32s(&mut p, self.amp_hours_charged, 1e4);
        i32s(&mut p, self.watt_hours, 1e4);
        i32s(&mut p, self.watt_hours_charged, 1e4);
        p.extend_from_slice(&self.tachometer.to_be_bytes());
        p.extend_from_slice(&self.tachometer_abs.to_be_bytes());
        p.push(self.fault);
        i32s(&mut p, self.pid_pos, 1e6);
        p.push(self.controller_id);
        for t in self.temp_mos {
            i16s(&mut p, t, 10.0);
        }
        i32s(&mut p, self.vd, 1e3);
        i32s(&mut p, self.vq, 1e3);
        p.push(self.status);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_byte_exact() {
        // packet.c: short frame 02 len payload crc_hi crc_lo 03, the CRC
        // (crc.c, CRC-16/XMODEM, check value tested in proto::tests) over the
        // payload only. COMM_ALIVE is 30 = 0x1E.
        let f = frame(&alive());
        assert_eq!(&f[..3], &[0x02, 0x01, 0x1E]);
        assert_eq!(f[5], 0x03);
        assert_eq!(u16::from_be_bytes([f[3], f[4]]), crc16_xmodem(&[0x1E]));
        // COMM_SET_RPM (8) 1000 erpm: payload 08 00 00 03 E8.
        assert_eq!(set_rpm(1000), vec![0x08, 0, 0, 0x03, 0xE8]);
        // COMM_SET_DUTY (5) 0.5: 50000 = 0x0000C350.
        assert_eq!(set_duty(0.5), vec![0x05, 0, 0, 0xC3, 0x50]);
        // COMM_SET_CURRENT (6) -2.5 A: -2500 mA = 0xFFFFF63C.
        assert_eq!(set_current(-2.5), vec![0x06, 0xFF, 0xFF, 0xF6, 0x3C]);
        // COMM_FORWARD_CAN (34): 22 id payload.
        assert_eq!(forward_can(7, &alive()), vec![0x22, 7, 0x1E]);
        // Long frame: 03 len_hi len_lo.
        let big = vec![0x55; 300];
        let f = frame(&big);
        assert_eq!(&f[..3], &[0x03, 0x01, 0x2C]);
        assert_eq!(f.len(), 300 + 6);
        assert!(matches!(parse(&f), Parse::Done { used: 306, .. }));
    }

    #[test]
    fn parse_resync_and_reject() {
        let f = frame(&set_rpm(-5));
        let mut g = vec![0x00, 0xFF];
        g.extend_from_slice(&f);
        assert_eq!(parse(&g), Parse::Done { value: set_rpm(-5), used: g.len(), skipped: 2 });
        assert_eq!(parse(&f[..5]), Parse::Need);
        let mut bad = f.clone();
        bad[4] ^= 0x01;
        assert_eq!(parse(&bad), Parse::Bad { used: f.len(), kind: BadKind::Checksum });
    }

    #[test]
    fn get_values_layout() {
        // commands.c COMM_GET_VALUES, mask bits 0-21: 73 data bytes.
        let v = Values {
            temp_fet: 31.5,
            v_in: 24.3,
            erpm: -12000.0,
            duty: 0.25,
            tachometer: 123456,
            fault: 0,
            controller_id: 3,
            status: 1,
            ..Default::default()
        };
        let p = v.encode();
        assert_eq!(p.len(), VALUES_LEN);
        assert_eq!(&p[..3], &[0x04, 0x01, 0x3B]); // 315 = temp_fet × 10
        assert_eq!(&p[23..27], &(-12000i32).to_be_bytes()); // rpm after 6 fields
        assert_eq!(&p[27..29], &243i16.to_be_bytes()); // v_in × 10
        assert_eq!(Values::decode(&p), Some(v));
        // Firmware 3.x stops after the fault code (54 bytes): still decodes.
        let old = Values::decode(&p[..54]).unwrap();
        assert_eq!((old.tachometer, old.controller_id), (123456, 0));
        assert_eq!(Values::decode(&p[..40]), None);
        for n in [54, 58, 59, 65, 73, 74] {
            assert!(Values::decode_checked(&p[..n]).is_ok(), "{n}");
        }
    }

    #[test]
    fn firmware_2_values_are_refused() {
        // bldc 2.x commands.c COMM_GET_VALUES: seven int16 temperatures
        // (MOS1-6, PCB) × 10, motor and input current int32 × 100, duty int16
        // × 1000, rpm int32, v_in int16 × 10, four int32 × 10000 (Ah, Ah
        // charged, Wh, Wh charged), tachometer, tachometer abs, fault.
        let mut p = vec![comm::GET_VALUES];
        for _ in 0..7 {
            p.extend_from_slice(&250i16.to_be_bytes());
        }
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&500i16.to_be_bytes()); // duty 0.5
        p.extend_from_slice(&3000i32.to_be_bytes()); // rpm
        p.extend_from_slice(&240i16.to_be_bytes()); // 24.0 V
        p.extend_from_slice(&[0; 16 + 8 + 1]);
        assert_eq!(p.len(), 56);
        // The 3.x layout reads nonsense from it: duty << 16 as ERPM, the RPM's
        // low half as volts (the 32,768,000 ERPM and 300 V of issue 11).
        let wrong = Values::decode(&p).unwrap();
        assert_eq!((wrong.erpm, wrong.v_in), (32_768_000.0, 300.0));
        let e = Values::decode_checked(&p).unwrap_err();
        assert!(e.contains("56 bytes") && e.contains("firmware 2.x") && e.contains("VESC Tool"), "{e}");
    }

    #[test]
    fn fw_version_layout() {
        // commands.c COMM_FW_VERSION (6.x): id, major, minor, HW_NAME NUL,
        // 12 UUID bytes, pairing_done, FW_TEST_VERSION_NUMBER, HW_TYPE_VESC,
        // custom config count, phase filters, QML hw, QML app, NRF flags,
        // FW_NAME NUL.
        let v = FwVersion { major: 6, minor: 2, hw_name: "60".into(), uuid: [7; 12] };
        let p = v.encode();
        assert_eq!(&p[..6], &[0x00, 6, 2, b'6', b'0', 0]);
        assert_eq!(&p[6..18], &[7; 12]);
        assert_eq!(&p[18..], &[0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(p.len(), 27);
        assert_eq!(FwVersion::decode(&p), Some(v));
        // Old firmware: major and minor only.
        assert_eq!(FwVersion::decode(&[0, 2, 18]).map(|f| (f.major, f.minor)), Some((2, 18)));
        assert_eq!(FwVersion::decode(&[0, 2]), None);
        assert_eq!(fw_version(), vec![0x00]);
    }
}
