import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BodyCursor, SharedBody } from './shared-body.js';

const drain = (c: BodyCursor) => {
  const out: Buffer[] = [];
  for (let b = c.next(); b; b = c.next()) out.push(b);
  return Buffer.concat(out).toString();
};

describe('SharedBody', () => {
  it('lets readers follow the body as it is written, sharing the chunks', () => {
    const body = new SharedBody();
    let calls = 0;
    body.subscribe(() => calls++);
    const early = new BodyCursor(body);
    body.push(Buffer.from('hello '));
    assert.equal(drain(early), 'hello ');
    body.push(Buffer.from('world'));
    const late = new BodyCursor(body);
    assert.equal(drain(late), 'hello world');
    assert.equal(late.next(), undefined);
    body.end();
    assert.equal(body.state, 'complete');
    assert.equal(calls, 3);
  });

  it('compacts to one buffer on completion; cursors resume from their byte offset', () => {
    const body = new SharedBody();
    const cursor = new BodyCursor(body);
    body.push(Buffer.from('abc'));
    body.push(Buffer.from('def'));
    assert.equal(cursor.next()!.toString(), 'abc');
    body.push(Buffer.from('ghi'));
    body.end();
    assert.equal(body.chunks.length, 1);
    assert.equal(drain(cursor), 'defghi');
    assert.equal(body.buffer.toString(), 'abcdefghi');
  });

  it('is aborted, not complete, when it ends short of the expected length', () => {
    const body = new SharedBody(10);
    body.push(Buffer.from('12345'));
    body.end();
    assert.equal(body.state, 'aborted');
  });
});
