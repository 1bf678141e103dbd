// Public API of the transport: MQTT (mqtt.js, v5 with 3.1.1 fallback), topic layout, the
// in-process broker, the BtnCmd frame and TCP link.
export { TransportError, FrameError, type TransportErrorCode, type FrameErrorReason } from './errors.ts';
export { Backoff, backoffCeiling, DEFAULT_BACKOFF, type BackoffOptions } from '../core/backoff.ts';
export { topicsFor, topicSegment, topicPrefix, topicMatches, assertTopicFilter, assertTopicName, DEFAULT_TOPIC_PREFIX, type Topics } from '../protocol/topics.ts';
export {
  MqttTransport, createMqttTransport, clientIdFromSpki, OFFLINE_STATUS,
  type MqttTransportOptions, type Subscribed, type TransportState, type ProtocolChoice, type DropReason, type DropEvent, type PublishOutcome,
  type InboundMessage, type SubscribeOptions, type StreamOptions, type PublishOptions, type TransportStats,
  type BrokerIdentity,
} from './mqtt-transport.ts';
export { DEFAULT_SUBSCRIPTION_BYTES, DEVICE_MAX_INBOUND_BYTES } from './mqtt-transport.ts';
export { SealInbox, type SealIdentity } from './seal-inbox.ts';
export { startBroker, type BrokerHandle, type BrokerOptions } from './broker.ts';
export {
  encodeFrame, FrameDecoder, BtnCmdFlag, BTNCMD_HEADER_BYTES, DEFAULT_MAX_FRAME_BYTES,
  type BtnCmdFrame, type BtnCmdFlagValue, type DecodedItem, type FrameCodecOptions,
} from './btncmd-frame.ts';
export { BtnCmdLink, connectBtnCmd, listenBtnCmd, type BtnCmdLinkOptions, type BtnCmdServer } from './btncmd-link.ts';
