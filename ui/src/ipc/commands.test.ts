import { describe, expect, it } from 'vitest';
import { asIpcError, isIpcCode } from './commands';

describe('asIpcError', () => {
  it('keeps an error the backend sent, code and message', () => {
    expect(asIpcError({ code: 'io', message: 'cannot write settings.json' })).toEqual({
      code: 'io',
      message: 'cannot write settings.json',
    });
    expect(asIpcError({ code: 'not_signed_in', message: 'not signed in: x' }).code).toBe('not_signed_in');
  });

  it('calls anything else failed, with its text', () => {
    expect(asIpcError('boom')).toEqual({ code: 'failed', message: 'boom' });
    expect(asIpcError({ code: 'mystery', message: 'm' })).toEqual({ code: 'failed', message: '[object Object]' });
  });

  it('knows the codes of the generated union only', () => {
    expect(isIpcCode('update')).toBe(true);
    expect(isIpcCode('toString')).toBe(false);
    expect(isIpcCode(3)).toBe(false);
  });
});
