/**
 * The safetensors format (bytes in, bytes out — works in browsers and Node): an 8-byte little-endian
 * header length, a JSON header `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__ }`
 * padded with spaces to a multiple of 8, then the raw little-endian tensor data.
 */
import { ScratchGPTError } from '@scratchgpt/core';

/** dtypes read; F16/BF16 are widened to f32 and I64 narrowed to i32 (range-checked). */
export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I32' | 'I64' | 'U8' | 'U32';

const BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I32: 4, I64: 8, U8: 1, U32: 4 };

/** A decoded tensor: floating types as Float32Array, integers as Int32Array (U8/U32 as Uint32Array). */
export interface DecodedTensor {
  /** dtype as stored in the file. */
  dtype: SafetensorsDType;
  shape: number[];
  data: Float32Array | Int32Array | Uint32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, DecodedTensor>;
  metadata: Record<string, string>;
}

/** A tensor to write: f32 or i32 data with its shape. */
export interface TensorToWrite {
  dtype: 'F32' | 'I32' | 'U32';
  shape: readonly number[];
  data: Float32Array | Int32Array | Uint32Array;
}

const MAX_HEADER = 100 * 1024 * 1024;

function notSafetensors(why: string): Error {
  return new ScratchGPTError('format', `scratchgpt: not a safetensors file: ${why}`);
}

function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function decode(name: string, dtype: SafetensorsDType, bytes: Uint8Array, count: number): DecodedTensor['data'] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = f16ToF32(view.getUint16(i * 2, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(count);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) u32[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'I32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
      return out;
    }
    case 'I64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = view.getBigInt64(i * 8, true);
        if (v < -2147483648n || v > 2147483647n) throw new ScratchGPTError('value', `scratchgpt: safetensors tensor '${name}': I64 value ${v} at index ${i} does not fit in i32`);
        out[i] = Number(v);
      }
      return out;
    }
    case 'U8': {
      return Uint32Array.from(bytes.subarray(0, count));
    }
    case 'U32': {
      const out = new Uint32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getUint32(i * 4, true);
      return out;
    }
  }
}

/** One tensor's entry in a safetensors header. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range `[begin, end)` within the data section. */
  begin: number;
  end: number;
}

/** A parsed safetensors header: tensor entries (in header order), metadata and where the data starts. */
export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Offset of the data section in the file: 8 + header length. */
  dataStart: number;
}

/**
 * Bytes of the header section a file starts with: 8 + the length stored in its first 8 bytes.
 * Lets a caller read just the header of a large file (`prefix` needs at least 8 bytes).
 */
export function safetensorsHeaderSize(prefix: Uint8Array, fileSize: number): number {
  if (prefix.byteLength < 8 || fileSize < 8) throw notSafetensors(`only ${fileSize} bytes`);
  const headerLength = Number(new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true));
  if (headerLength < 2 || headerLength > MAX_HEADER || 8 + headerLength > fileSize) {
    throw notSafetensors(`header length ${headerLength} does not fit a file of ${fileSize} bytes`);
  }
  return 8 + headerLength;
}

/**
 * Parses and checks the header of a safetensors file of `fileSize` bytes, given (at least) its first
 * {@link safetensorsHeaderSize} bytes: valid JSON, known dtypes, shapes whose byte sizes match their
 * offsets, no overlaps, nothing past the end of the file. With `complete`, the tensors must also cover
 * the data section exactly (what a finished download or a cache entry must satisfy: a file cut short
 * or with trailing junk fails). Reads no tensor data.
 */
export function readSafetensorsHeader(prefix: Uint8Array, fileSize: number, { complete = false }: { complete?: boolean } = {}): SafetensorsHeader {
  const dataStart = safetensorsHeaderSize(prefix, fileSize);
  if (prefix.byteLength < dataStart) throw new ScratchGPTError('format', `scratchgpt: readSafetensorsHeader needs the first ${dataStart} bytes, got ${prefix.byteLength}`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(prefix.subarray(8, dataStart))) as Record<string, unknown>;
  } catch {
    throw notSafetensors('the header is not valid JSON');
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw notSafetensors('the header is not a JSON object');
  const dataLength = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      for (const [k, v] of Object.entries((entry ?? {}) as Record<string, unknown>)) metadata[k] = String(v);
      continue;
    }
    const info = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = info?.dtype as SafetensorsDType;
    if (!(typeof dtype === 'string' && dtype in BYTES)) throw new ScratchGPTError('format', `scratchgpt: safetensors tensor '${name}': unsupported dtype ${String(info?.dtype)}`);
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new ScratchGPTError('format', `scratchgpt: safetensors tensor '${name}': invalid shape ${JSON.stringify(shape)}`);
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw new ScratchGPTError('format', `scratchgpt: safetensors tensor '${name}': invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) throw new ScratchGPTError('shape', `scratchgpt: safetensors tensor '${name}': data [${begin}, ${end}) lies past the end of the file (${dataLength} data bytes) — truncated file?`);
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (count * BYTES[dtype] !== end - begin) {
      throw new ScratchGPTError('shape', `scratchgpt: safetensors tensor '${name}': shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${count * BYTES[dtype]} bytes but data_offsets span ${end - begin}`);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) throw new ScratchGPTError('shape', `scratchgpt: safetensors tensors '${sorted[i - 1].name}' and '${sorted[i].name}' overlap`);
  }
  if (complete) {
    const covered = sorted.reduce((sum, e) => sum + (e.end - e.begin), 0);
    if (covered !== dataLength) {
      throw notSafetensors(`its tensors hold ${covered} bytes but the file has ${dataLength} data bytes (trailing bytes, or gaps between tensors)`);
    }
  }
  return { entries, metadata, dataStart };
}

/** Parses a safetensors file. Errors name the problem and the tensor. */
export function parseSafetensors(bytes: Uint8Array): SafetensorsFile {
  const { entries, metadata, dataStart } = readSafetensorsHeader(bytes, bytes.byteLength);
  const tensors = new Map<string, DecodedTensor>();
  for (const { name, dtype, shape, begin, end } of entries) {
    const count = shape.reduce((a, b) => a * b, 1);
    tensors.set(name, { dtype, shape, data: decode(name, dtype, bytes.subarray(dataStart + begin, dataStart + end), count) });
  }
  return { tensors, metadata };
}

/** Serialises tensors (keys sorted, data contiguous, header padded to 8 bytes) to safetensors bytes. */
export function serializeSafetensors(tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new ScratchGPTError('format', `scratchgpt: safetensors tensor '${name}': shape [${t.shape.join(', ')}] does not match ${t.data.length} values`);
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  let at = 8 + json.byteLength;
  for (const [, t] of entries) {
    const src = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    // Typed arrays are little-endian on every platform WebGPU runs on.
    out.set(src, at);
    at += src.byteLength;
  }
  return out;
}
