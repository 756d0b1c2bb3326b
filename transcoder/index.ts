// The ingest/transcode stage of the pipeline, run by `cascade transcode`, `cascade source` and `cascade stack`:
//   source (OBS, or our test pattern) --RTMP/SRT--> transcoder (ffmpeg) --HTTP PUT--> origin
export {
  DEFAULT_HLS_TIME, DEFAULT_LADDER, DEFAULT_PART_TARGET_MS, RENDITION_PRESETS, X264_PRESETS, audioFragmentSeconds, clockFilter, findFont, inputUrlOf,
  isPictureSize, parseLadder, partTargetProblem, shellLine, testSourceArgs, transcodeArgs, uploadPreset,
  type InputKind, type Rendition, type TestSourceOptions, type TranscodeOptions,
} from './ffmpeg.js';
export { Supervisor, commandExists, spawnChild, type SpawnedChild, type SupervisorOptions } from './process.js';
export { startTestSource, startTranscoder, type SupervisedFfmpeg } from './supervised.js';
export { startGatedTranscoder, type GatedTranscoder } from './gated.js';
export { PublishKeys, rtmpPublisher, srtPublisher, type PublishRefusal } from './publish-key.js';
