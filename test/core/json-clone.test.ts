import { describe, expect, it } from 'vitest';
import { cloneJson, type JsonValue } from '../../src/core/json.ts';

describe('cloneJson (the copy of a call’s arguments a tool gets)', () => {
  it('copies deeply what structuredClone copies: -0, nested lists and objects, a __proto__ key as data', () => {
    const args = JSON.parse('{"n":-0,"list":[1,{"a":[null,true,"x"]}],"__proto__":{"polluted":true}}') as JsonValue;
    const copy = cloneJson(args);
    expect(copy).toStrictEqual(structuredClone(args));
    expect(Object.is((copy as { n: number }).n, -0)).toBe(true);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy as object)).toEqual(['n', 'list', '__proto__']);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    // Changing the copy leaves the original (what the call's entry and intent hold) as it was.
    ((copy as { list: JsonValue[] }).list[1] as { a: JsonValue[] }).a.push('changed');
    expect(JSON.stringify(args)).toBe('{"n":0,"list":[1,{"a":[null,true,"x"]}],"__proto__":{"polluted":true}}');
    expect(cloneJson('text')).toBe('text');
    expect(cloneJson(null)).toBe(null);
  });
});
