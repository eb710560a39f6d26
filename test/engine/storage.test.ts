import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nativeBackend, tsBackend } from '../../src/backends/registry.js';
import { HostStorage } from '../../src/backends/storage.js';
import { tensor } from '../../src/engine/create.js';
import { Tensor } from '../../src/engine/tensor.js';
import { slice, transpose } from '../../src/ops/views.js';

describe('tensor storage handles', () => {
  it('a tensor holds a storage handle; views share it', () => {
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.ok(x.storage instanceof HostStorage);
    const t = transpose(x);
    assert.equal(t.storage, x.storage);
    assert.deepEqual(Array.from(t.dataSync()), [1, 4, 2, 5, 3, 6]);
  });

  it('dataSync and toHost give logical order for offset and strided views', async () => {
    const x = tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [3, 4]);
    const v = slice(transpose(x), 0, 1, 4, 2); // rows 1 and 3 of xᵀ: [2, 3], offset 1
    assert.deepEqual(Array.from(v.dataSync()), [1, 5, 9, 3, 7, 11]);
    assert.deepEqual(Array.from(await v.toHost()), [1, 5, 9, 3, 7, 11]);
    assert.deepEqual(v.toArray(), [1, 5, 9, 3, 7, 11]);
  });

  it('a contiguous view with an offset reads from its offset', () => {
    const x = tensor([1, 2, 3, 4, 5, 6], [3, 2]);
    const row = slice(x, 0, 2, 3);
    assert.deepEqual(Array.from(row.dataSync()), [5, 6]);
    assert.equal(slice(row, 1, 1, 2).item(), 6);
  });

  it('the constructor takes a handle or a host typed array', () => {
    const h = tsBackend.allocate('f32', 3);
    tsBackend.write(h, Float32Array.of(7, 8, 9));
    const a = new Tensor(h, [3], 'f32');
    const b = new Tensor(Float32Array.of(7, 8, 9), [3], 'f32');
    assert.equal(a.storage, h);
    assert.deepEqual(a.toArray(), b.toArray());
  });

  for (const backend of [tsBackend, nativeBackend()]) {
    if (!backend) continue;
    it(`${backend.name}: allocate, write at an offset, read back (sync and async)`, async () => {
      const h = backend.allocate('f64', 5);
      backend.write(h, Float64Array.of(0, 0, 0, 0, 0));
      backend.write(h, Float64Array.of(1.5, -2), 2);
      assert.deepEqual(Array.from(await backend.read(h)), [0, 0, 1.5, -2, 0]);
      assert.deepEqual(Array.from(backend.readSync?.(h) ?? []), [0, 0, 1.5, -2, 0]);
      assert.equal(backend.storageKind, 'host');
    });
  }
});
