import type { SinkConfig } from '../config/agent-config.js';
import { ExecSink } from './exec-sink.js';
import { FileSink } from './file-sink.js';
import { HttpSink } from './http-sink.js';
import { SignalSink } from './signal-sink.js';
import type { Sink, SinkContext } from './sink.js';

export function createSink(ownerId: string, config: SinkConfig, ctx: SinkContext): Sink {
  switch (config.type) {
    case 'file':
      return new FileSink(ownerId, config);
    case 'exec':
      return new ExecSink(ownerId, config);
    case 'http':
      return new HttpSink(ownerId, config, ctx);
    case 'signal':
      return new SignalSink(ownerId, config);
  }
}
