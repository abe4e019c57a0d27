//! The names under which `rmw_zenoh` (ROS 2's Zenoh middleware) publishes a
//! topic, so a ROS 2 host running it sees framewire's wires as topics.
//!
//! Everything here follows `docs/design.md` of ros2/rmw_zenoh (sections
//! "Topic and Service name mapping to Zenoh key expressions", "Graph Cache"
//! and "Publishers") and `qos_to_keyexpr` in
//! `rmw_zenoh_cpp/src/detail/liveliness_utils.cpp`:
//!
//! * data: `<domain_id>/<fully_qualified_name>/<type_name>/<type_hash>`, the
//!   name without its leading `/`, e.g.
//!   `0/robot1/chatter/std_msgs::msg::dds_::String_/RIHS01_df66...`;
//! * a node's liveliness token:
//!   `@ros2_lv/<domain_id>/<session_id>/<node_id>/<node_id>/NN/<enclave>/<namespace>/<node_name>`;
//! * a publisher's:
//!   `@ros2_lv/<domain_id>/<session_id>/<node_id>/<entity_id>/MP/<enclave>/<namespace>/<node_name>/<qualified_name>/<type_name>/<type_hash>/<qos>`,
//!   where enclave, namespace and topic name are "mangled" (each `/`
//!   becomes `%`, an empty one is `%`);
//! * every sample carries an attachment: the sequence number (`i64` LE),
//!   the source timestamp (`i64` LE, ns since the UNIX epoch), a length
//!   byte (16) and the publisher's 16-byte GID.

/// A ROS 2 message type that framewire publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RosType {
    /// The ROS name, `sensor_msgs/msg/Image`.
    pub name: &'static str,
    /// The DDS name rmw_zenoh puts in keys, `sensor_msgs::msg::dds_::Image_`.
    pub dds_name: &'static str,
    /// The REP-2016 type hash (as ROS 2 Jazzy/Rolling's rosidl computes it;
    /// checked against `rosbags`' `hash_rihs01` in `tests/bridge.rs`).
    pub hash: &'static str,
}

/// `sensor_msgs/msg/Image`.
pub const IMAGE: RosType = RosType {
    name: "sensor_msgs/msg/Image",
    dds_name: "sensor_msgs::msg::dds_::Image_",
    hash: "RIHS01_d31d41a9a4c4bc8eae9be757b0beed306564f7526c88ea6a4588fb9582527d47",
};

/// `sensor_msgs/msg/CompressedImage` (a JPEG-compressed image wire).
pub const COMPRESSED_IMAGE: RosType = RosType {
    name: "sensor_msgs/msg/CompressedImage",
    dds_name: "sensor_msgs::msg::dds_::CompressedImage_",
    hash: "RIHS01_15640771531571185e2efc8a100baf923961a4d15d5569652e6cb6691e8e371a",
};

/// `nav_msgs/msg/Odometry`.
pub const ODOMETRY: RosType = RosType {
    name: "nav_msgs/msg/Odometry",
    dds_name: "nav_msgs::msg::dds_::Odometry_",
    hash: "RIHS01_3cc97dc7fb7502f8714462c526d369e35b603cfc34d946e3f2eda2766dfec6e0",
};

/// `/` to `%`, and an empty name to `%` (rmw_zenoh's `mangle_name`, and
/// design.md: "Since Zenoh liveliness tokens cannot be empty, in the case
/// of an empty namespace (the default), a namespace of `%` is used").
pub fn mangle(name: &str) -> String {
    if name.is_empty() { "%".to_string() } else { name.replace('/', "%") }
}

/// Checks a topic name as ROS 2 writes it (`/robot1/camera/image_raw` or a
/// relative `camera/image_raw`, made absolute): alphanumerics, `_` and `/`,
/// no empty token, no token starting with a digit.
pub fn check_topic(topic: &str) -> Result<String, String> {
    let t = topic.trim_start_matches('/');
    if t.is_empty() || t.ends_with('/') {
        return Err(format!("ROS topic {topic:?} is empty or ends with '/'; e.g. \"/robot1/camera/image_raw\""));
    }
    for tok in t.split('/') {
        if tok.is_empty() {
            return Err(format!("ROS topic {topic:?} has an empty name between '//'"));
        }
        if tok.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("ROS topic {topic:?}: a name may not start with a digit ({tok:?})"));
        }
        if !tok.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("ROS topic {topic:?}: use only letters, digits and '_' between the '/' ({tok:?})"));
        }
    }
    Ok(format!("/{t}"))
}

/// The data key expression of `topic` (absolute, as [`check_topic`] returns
/// it) of type `ty` in `domain`.
pub fn topic_key(domain: u32, topic: &str, ty: &RosType) -> String {
    format!("{domain}/{}/{}/{}", topic.trim_start_matches('/'), ty.dds_name, ty.hash)
}

/// The QoS chunk of a publisher's token: rmw_zenoh writes each field only
/// when it differs from its default (reliable, volatile, keep-last 42,
/// infinite durations, automatic liveliness). Sensor data is best-effort
/// with a depth of 1 (latest): `2::,1:,:,:,,`.
pub fn qos_best_effort_keep_last_1() -> &'static str {
    "2::,1:,:,:,,"
}

/// A ROS 2 node as rmw_zenoh announces it.
#[derive(Clone, Debug)]
pub struct Node {
    /// `ROS_DOMAIN_ID`.
    pub domain: u32,
    /// The Zenoh session id, as Zenoh prints it (lower-case hex).
    pub session_id: String,
    /// The node's id within the session.
    pub node_id: u32,
    /// Namespace, e.g. `/robot1`, or empty.
    pub namespace: String,
    /// Node name, e.g. `framewire_camera`.
    pub name: String,
}

impl Node {
    /// The node's liveliness token.
    pub fn token(&self) -> String {
        format!(
            "@ros2_lv/{}/{}/{}/{}/NN/%/{}/{}",
            self.domain,
            self.session_id,
            self.node_id,
            self.node_id,
            mangle(&self.namespace),
            self.name
        )
    }

    /// The liveliness token of this node's publisher `entity_id` on `topic`.
    pub fn publisher_token(&self, entity_id: u32, topic: &str, ty: &RosType, qos: &str) -> String {
        format!(
            "@ros2_lv/{}/{}/{}/{entity_id}/MP/%/{}/{}/{}/{}/{}/{qos}",
            self.domain,
            self.session_id,
            self.node_id,
            mangle(&self.namespace),
            self.name,
            mangle(topic),
            ty.dds_name,
            ty.hash
        )
    }
}

/// Length of the attachment of every sample.
pub const ATTACHMENT_LEN: usize = 33;

/// The attachment rmw_zenoh expects on a sample: sequence number, source
/// time (ns since the UNIX epoch), GID length (16) and the GID.
pub fn attachment(seq: i64, unix_ns: i64, gid: &[u8; 16]) -> [u8; ATTACHMENT_LEN] {
    let mut a = [0u8; ATTACHMENT_LEN];
    a[0..8].copy_from_slice(&seq.to_le_bytes());
    a[8..16].copy_from_slice(&unix_ns.to_le_bytes());
    a[16] = 16;
    a[17..33].copy_from_slice(gid);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_md_examples() {
        // "chatter topic, using /robot1 as a namespace" in design.md.
        let string = RosType {
            name: "std_msgs/msg/String",
            dds_name: "std_msgs::msg::dds_::String_",
            hash: "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18",
        };
        assert_eq!(
            topic_key(0, "/robot1/chatter", &string),
            "0/robot1/chatter/std_msgs::msg::dds_::String_/RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18"
        );
        // "talker node's publisher on chatter topic" in design.md (domain 2).
        let talker = Node {
            domain: 2,
            session_id: "8b20917502ee955ac4476e0266340d5c".into(),
            node_id: 0,
            namespace: String::new(),
            name: "talker".into(),
        };
        assert_eq!(
            talker.publisher_token(10, "/chatter", &string, "::,7:,:,:,,"),
            "@ros2_lv/2/8b20917502ee955ac4476e0266340d5c/0/10/MP/%/%/talker/%chatter/std_msgs::msg::dds_::String_/RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18/::,7:,:,:,,"
        );
        // "listener node" in design.md.
        let listener =
            Node { session_id: "aac3178e146ba6f1fc6e6a4085e77f21".into(), name: "listener".into(), ..talker };
        assert_eq!(listener.token(), "@ros2_lv/2/aac3178e146ba6f1fc6e6a4085e77f21/0/0/NN/%/%/listener");
    }

    #[test]
    fn namespaces_and_topics_are_mangled() {
        let n = Node { domain: 0, session_id: "ab".into(), node_id: 0, namespace: "/robot1".into(), name: "fw".into() };
        assert_eq!(n.token(), "@ros2_lv/0/ab/0/0/NN/%/%robot1/fw");
        let t = n.publisher_token(1, "/robot1/odom", &ODOMETRY, qos_best_effort_keep_last_1());
        assert!(t.ends_with("/MP/%/%robot1/fw/%robot1%odom/nav_msgs::msg::dds_::Odometry_/RIHS01_3cc97dc7fb7502f8714462c526d369e35b603cfc34d946e3f2eda2766dfec6e0/2::,1:,:,:,,"), "{t}");
    }

    #[test]
    fn topics_are_checked() {
        assert_eq!(check_topic("camera/image_raw").unwrap(), "/camera/image_raw");
        assert_eq!(check_topic("/robot1/odom").unwrap(), "/robot1/odom");
        for bad in ["", "/", "/a//b", "/a/", "/1cam", "/cam-era", "/a b"] {
            assert!(check_topic(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn attachment_layout() {
        let a = attachment(5, 1_700_000_000_123_456_789, &[7; 16]);
        assert_eq!(&a[0..8], &5i64.to_le_bytes());
        assert_eq!(&a[8..16], &1_700_000_000_123_456_789i64.to_le_bytes());
        assert_eq!(a[16], 16);
        assert_eq!(&a[17..], &[7; 16]);
    }
}
