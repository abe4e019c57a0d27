//! ROS 2 message definitions (`ros2msg` schema text, as MCAP stores it) for
//! what framewire records: `sensor_msgs/msg/Image`, `sensor_msgs/msg/CompressedImage`,
//! and one generated type per framewire message type.
//!
//! A schema is the type's own definition followed by every type it uses,
//! each after a line of 80 `=` and a `MSG: package/Type` line: the layout
//! `ros2 bag record` writes and Foxglove, `mcap-ros2-support` and `rosbags`
//! parse.

use framewire_sdk::msg::MessageInfo;

use crate::cdr::{CdrError, ros_field};

const SEPARATOR: &str = "================================================================================";

/// `std_msgs/msg/Header` and `builtin_interfaces/msg/Time`, appended to every schema.
fn dependencies() -> String {
    format!(
        "{SEPARATOR}\nMSG: std_msgs/Header\n\
         # Two-integer timestamp that is expressed as seconds and nanoseconds.\n\
         builtin_interfaces/Time stamp\n\
         # Transform frame with which this data is associated.\n\
         string frame_id\n\
         {SEPARATOR}\nMSG: builtin_interfaces/Time\n\
         int32 sec\n\
         uint32 nanosec\n"
    )
}

/// Name of the raw image type.
pub const IMAGE: &str = "sensor_msgs/msg/Image";
/// Name of the compressed image type.
pub const COMPRESSED_IMAGE: &str = "sensor_msgs/msg/CompressedImage";

/// The `sensor_msgs/msg/Image` definition.
pub fn image() -> String {
    format!(
        "std_msgs/Header header\n\
         uint32 height\n\
         uint32 width\n\
         string encoding\n\
         uint8 is_bigendian\n\
         uint32 step\n\
         uint8[] data\n{}",
        dependencies()
    )
}

/// The `sensor_msgs/msg/CompressedImage` definition.
pub fn compressed_image() -> String {
    format!("std_msgs/Header header\nstring format\nuint8[] data\n{}", dependencies())
}

/// The ROS 2 type name of framewire message type `name`: `drive` becomes
/// `framewire_msgs/msg/Drive`; a name with a package part,
/// `my_robot/pose2d`, becomes `my_robot/msg/Pose2d`. Characters ROS does not
/// allow become `_` (packages) or word breaks (types).
pub fn ros_type_name(name: &str) -> String {
    let (package, ty) = match name.rsplit_once('/') {
        Some((p, t)) => (p, t),
        None => ("framewire_msgs", name),
    };
    let mut pkg: String =
        package.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if !pkg.starts_with(|c: char| c.is_ascii_lowercase()) {
        pkg.insert_str(0, "fw_");
    }
    let mut camel: String = ty
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            cs.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(cs).collect::<String>()
        })
        .collect();
    if !camel.starts_with(|c: char| c.is_ascii_uppercase()) {
        camel.insert_str(0, "Msg");
    }
    format!("{pkg}/msg/{camel}")
}

/// The ROS 2 type name and definition of framewire message type `info`: a
/// `std_msgs/Header header` (the capture stamp of the frame the message came
/// from), then every field of its layout with its documentation as a comment.
pub fn message(info: &MessageInfo) -> Result<(String, String), CdrError> {
    let mut text = String::new();
    for line in (info.doc)().lines().map(str::trim).filter(|l| !l.is_empty()) {
        text.push_str(&format!("# {line}\n"));
    }
    text.push_str(
        "\n# Capture time of the frame this message was computed from (wall clock).\nstd_msgs/Header header\n",
    );
    for f in (info.layout)() {
        let t = ros_field(&f)?;
        if !f.doc.is_empty() {
            text.push_str(&format!("\n# {}\n", f.doc.replace('\n', " ")));
        }
        match t.array {
            Some(n) => text.push_str(&format!("{}[{n}] {}\n", t.ros_type, f.name)),
            None => text.push_str(&format!("{} {}\n", t.ros_type, f.name)),
        }
    }
    text.push_str(&dependencies());
    Ok((ros_type_name(info.ty.name()), text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use framewire_sdk::msg::{Detection, MessageInfo};

    #[test]
    fn type_names_follow_ros_conventions() {
        assert_eq!(ros_type_name("drive"), "framewire_msgs/msg/Drive");
        assert_eq!(ros_type_name("replay_stamp"), "framewire_msgs/msg/ReplayStamp");
        assert_eq!(ros_type_name("my_robot/pose2d"), "my_robot/msg/Pose2d");
        assert_eq!(ros_type_name("My-Robot/a.b"), "my_robot/msg/AB");
        assert_eq!(ros_type_name("9lives/2d"), "fw_9lives/msg/Msg2d");
    }

    #[test]
    fn a_message_schema_lists_the_header_and_every_field() {
        let (name, text) = message(&MessageInfo::of::<Detection>()).unwrap();
        assert_eq!(name, "framewire_msgs/msg/Detection");
        let fields: Vec<&str> = text
            .lines()
            .take_while(|l| !l.starts_with("==="))
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(
            fields,
            [
                "std_msgs/Header header",
                "bool found",
                "uint32 area",
                "float32 cx",
                "float32 cy",
                "uint32[4] bbox",
                "uint32 image_width",
                "uint32 image_height"
            ]
        );
        assert!(text.contains("\nMSG: builtin_interfaces/Time\nint32 sec\nuint32 nanosec\n"));
    }
}
