"""Events: the CloudEvents envelope, the payload schemas and the subjects."""

from venom_common.events import subjects
from venom_common.events.envelope import Envelope, InvalidEvent, decode, encode, make_event
from venom_common.events.payloads import PAYLOAD_TYPES, Payload

__all__ = ["PAYLOAD_TYPES", "Envelope", "InvalidEvent", "Payload", "decode", "encode", "make_event", "subjects"]
