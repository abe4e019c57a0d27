"""Reads MCAP files with tools nobody at framewire wrote, for tests/record.rs.

    python3 mcap_dump.py OUTDIR [--stream] FILE...

For each file, reads every message with the `mcap` package (its seeking
reader, or with --stream its NonSeekingReader, the one that reads a file
whose writer was killed) and decodes it with `mcap-ros2-support`. Each
message is also decoded with `rosbags` from its raw CDR bytes and the
schema text in the file, and serialized again: `rosbags=same` means
rosbags produces exactly the recorded bytes. Image pixels go to files in
OUTDIR; everything else is printed as lines of `key=value` fields:

    file <path> summary=0|1 size=<bytes>
    meta <path> <name> key=value ...
    image|compressed|msg <path> <topic> schema=... seq= log= pub= stamp= ...
    end <path> messages=<n> readable_end=<byte> error=<text or empty>
"""

import io
import sys
from pathlib import Path

from mcap.decoder import DecoderFactory as _Unused  # noqa: F401  (the plugin API)
from mcap.reader import NonSeekingReader, SeekingReader
from mcap.stream_reader import StreamReader
from mcap_ros2.decoder import DecoderFactory
from rosbags.typesys import Stores, get_typestore, get_types_from_msg


def clean(s):
    return str(s).replace(" ", "_").replace("\n", "_")


def rosbags_check(store, known, schema, raw):
    """Deserializes raw CDR with rosbags and serializes it again."""
    name = schema.name
    if name not in known:
        types = get_types_from_msg(schema.data.decode(), name)
        types = {k: v for k, v in types.items() if k not in store.types}
        if types:
            store.register(types)
        known.add(name)
    obj = store.deserialize_cdr(raw, name)
    again = store.serialize_cdr(obj, name)
    return obj, ("same" if bytes(again) == bytes(raw) else "differs")


def readable_end(path):
    """Byte offset after the last record a stream reader can read whole."""
    end = 0
    with open(path, "rb") as f:
        try:
            for _ in StreamReader(f, emit_chunks=True).records:
                end = f.tell()
        except Exception:
            pass
    return end


def main():
    out = Path(sys.argv[1])
    args = sys.argv[2:]
    stream = "--stream" in args
    files = [a for a in args if a != "--stream"]
    store = get_typestore(Stores.ROS2_HUMBLE)
    known = set()
    for path in files:
        size = Path(path).stat().st_size
        n = 0
        error = ""
        with open(path, "rb") as f:
            if stream:
                reader = NonSeekingReader(f, validate_crcs=True, decoder_factories=[DecoderFactory()])
                summary = 0
            else:
                reader = SeekingReader(f, validate_crcs=True, decoder_factories=[DecoderFactory()])
                summary = int(reader.get_summary() is not None)
                for m in reader.iter_metadata():
                    fields = " ".join(f"{k}={clean(v)}" for k, v in sorted(m.metadata.items()))
                    print(f"meta {path} {m.name} {fields}")
                f.seek(0)
            print(f"file {path} summary={summary} size={size}")
            try:
                for schema, channel, message, decoded in reader.iter_decoded_messages(log_time_order=False):
                    n += 1
                    obj, same = rosbags_check(store, known, schema, message.data)
                    stamp = decoded.header.stamp.sec * 1_000_000_000 + decoded.header.stamp.nanosec
                    common = (
                        f"{path} {channel.topic} schema={schema.name} seq={message.sequence} "
                        f"log={message.log_time} pub={message.publish_time} stamp={stamp} rosbags={same}"
                    )
                    if schema.name == "sensor_msgs/msg/Image":
                        name = f"{channel.topic.strip('/').replace('/', '_')}_{Path(path).name}_{message.sequence}.raw"
                        (out / name).write_bytes(bytes(decoded.data))
                        assert bytes(obj.data) == bytes(decoded.data), "rosbags and mcap-ros2 disagree"
                        print(
                            f"image {common} enc={decoded.encoding} w={decoded.width} h={decoded.height} "
                            f"step={decoded.step} bigendian={decoded.is_bigendian} data={name}"
                        )
                    elif schema.name == "sensor_msgs/msg/CompressedImage":
                        name = f"{channel.topic.strip('/').replace('/', '_')}_{Path(path).name}_{message.sequence}.jpg"
                        (out / name).write_bytes(bytes(decoded.data))
                        print(f"compressed {common} format={decoded.format} data={name}")
                    else:
                        fields = []
                        for k in decoded.__slots__:
                            if k == "header":
                                continue
                            v = getattr(decoded, k)
                            if isinstance(v, (list, tuple)):
                                v = ",".join(str(x) for x in v)
                            fields.append(f"{k}={clean(v)}")
                        print(f"msg {common} {' '.join(fields)}")
            except Exception as e:  # a file whose writer was killed ends in a broken chunk
                error = clean(f"{type(e).__name__}: {e}")
        print(f"end {path} messages={n} readable_end={readable_end(path)} error={error}")


if __name__ == "__main__":
    main()
