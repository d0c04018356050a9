export { waitForBroker } from './broker-ready.js';
export { ContainerKafkaEnvironment, kafkaContainerImage } from './container-kafka-environment.js';
export type { ContainerKafkaOptions } from './container-kafka-environment.js';
export type { KafkaEnvironment, KafkaEnvironmentKind } from './kafka-environment.js';
export { LocalKafkaEnvironment } from './local-kafka-environment.js';
export type { LocalKafkaOptions } from './local-kafka-environment.js';
export { localKafkaScript, pinnedKafkaVersion, repoRoot } from './repo-paths.js';
export {
  chooseKafkaEnvironmentKind,
  containerRuntimeAvailable,
  startKafkaEnvironment,
} from './start-kafka-environment.js';
export { readTopic, stopOwnKafka, testKafka, uniqueName } from './test-kafka.js';
export type { CreateTopicOptions, TestKafka, TopicRecord } from './test-kafka.js';
export { finishedSpans, ingestClient, startIngest } from './ingest-harness.js';
export type { IngestClient, IngestHarness } from './ingest-harness.js';
export { CodecSocket } from './codec-socket.js';
export type { CodecFormat } from './codec-socket.js';
export { startEdge, TestSocket } from './edge-harness.js';
export type { EdgeHarness, WsFrame } from './edge-harness.js';
export { startEdgeStack, startIngestStack, startLoneEdge } from './edge-stack.js';
export type { EdgeStack, IngestStack, LoneEdgeStack, StackOptions } from './edge-stack.js';
export { createTestCertificateAuthority } from './test-certificates.js';
export type { CertificateFiles, TestCertificateAuthority } from './test-certificates.js';
export { startBridgeProcess } from './bridge-process.js';
export type { BridgeProcess } from './bridge-process.js';
export { edgeAsInImage, startEdgeProcess } from './edge-process.js';
export type { EdgeProcess } from './edge-process.js';
export { startIngestProcess } from './ingest-process.js';
export type { IngestProcess, IngestProcessOptions } from './ingest-process.js';
export { ResumingClient } from './resuming-client.js';
export type { ReceivedEvent } from './resuming-client.js';
export { hs256Token, nowSeconds, publicJwk, signedToken } from './jwt.js';
export { startJwksServer } from './jwks-server.js';
export type { JwksServer, JwksServerMode } from './jwks-server.js';
export { startBlockingProxy } from './blocking-proxy.js';
export type { BlockingProxy } from './blocking-proxy.js';
export { startTcpForwarder } from './tcp-forwarder.js';
export type { TcpForwarder } from './tcp-forwarder.js';
export { rawIngestClient } from './raw-grpc.js';
export type { RawIngestClient, RawUnaryCallback } from './raw-grpc.js';
export { RestartableBroker } from './restartable-broker.js';
export { startRestartableStack } from './restartable-stack.js';
export type { RestartableStack, RestartableStackOptions } from './restartable-stack.js';
export { publishAndReadBack } from './publish-and-read.js';
export { writeState } from './state-writes.js';
