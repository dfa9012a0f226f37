import { describe, expect, it } from 'vitest';
import {
  authChoices, authOf, blankForm, emitLines, emitText, kindLabel, lines, placements, problems, stepLabel, switchKind,
  waitingFor,
} from './profiles';

describe('servers of another kind', () => {
  it('starts each kind with what it usually has', () => {
    const rabbit = blankForm('rabbitmq');
    expect(rabbit.url).toBe('ws://127.0.0.1:15674/ws');
    expect(rabbit.auth).toEqual({ type: 'stomp', login: 'guest', passcode: '' });
    expect(rabbit.vhost).toBe('/');
    expect(blankForm('spring').auth.type).toBe('login');
    const sio = blankForm('socketio');
    expect(sio.url.startsWith('http://')).toBe(true);
    expect(sio.placement).toBe('handshake');
    expect(sio.follow).toEqual(['notification:new']);
    expect(kindLabel('rabbitmq')).toBe('RabbitMQ Web-STOMP');
    expect(kindLabel(null)).toBe('Tidings');
  });

  it('keeps the name when the kind changes, and offers only what the kind takes', () => {
    const f = { ...blankForm('rabbitmq'), name: 'Alerts' };
    const sio = switchKind(f, 'socketio');
    expect(sio.name).toBe('Alerts');
    expect(sio.kind).toBe('socketio');
    expect(authChoices('socketio').map((a) => a.type)).not.toContain('stomp');
    expect(authChoices('rabbitmq').map((a) => a.type)).toContain('stomp');
    expect(placements('spring').map((p) => p.placement)).toEqual(['authorization', 'passcode']);
    expect(placements('socketio').map((p) => p.placement)).toContain('query');
    // Switching the token source keeps the login's fields it can.
    const login = { type: 'login' as const, url: 'http://h/login', username: 'pat', password: 'x', tokenField: '/data/t' };
    expect(authOf('login', login)).toEqual({ ...login, password: '' });
    expect(authOf('none', login)).toEqual({ type: 'none' });
  });

  it('says what is missing next to each field', () => {
    const f = blankForm('rabbitmq');
    const p = problems({ ...f, url: 'http://127.0.0.1:15674/ws', follow: [' '] });
    expect(p.name).toMatch(/name/);
    expect(p.url).toMatch(/ws:\/\//);
    expect(p.secret).toBe('Enter the passcode.');
    expect(p.follow).toMatch(/\/topic\/alerts/);
    // Editing with a secret kept: a blank one is fine.
    expect(problems({ ...f, name: 'A' }, true)).toEqual({});
    const spring = { ...blankForm('spring'), name: 'HM' };
    expect(Object.keys(problems(spring)).sort()).toEqual(['loginUrl', 'secret', 'username']);
    const sio = { ...blankForm('socketio'), name: 'S', auth: { type: 'token' as const, token: 't' },
      emit: [{ event: 'join', data: '{room' }] };
    expect(problems(sio).emit).toMatch(/join/);
    expect(problems({ ...sio, emit: [{ event: 'join', data: '{"room": 1}' }] })).toEqual({});
  });

  it('reads lists one a line and events to emit with their data', () => {
    expect(lines(' /topic/a \n\n/queue/b\n')).toEqual(['/topic/a', '/queue/b']);
    const emit = emitLines('join {"room": "r1"}\nhello\n');
    expect(emit).toEqual([{ event: 'join', data: '{"room": "r1"}' }, { event: 'hello', data: '' }]);
    expect(emitText(emit)).toBe('join {"room": "r1"}\nhello');
  });

  it('names the test steps and what an empty account waits for', () => {
    expect(stepLabel({ name: 'connect', ok: true, detail: '' })).toBe('Connect');
    expect(stepLabel({ name: 'subscribe', ok: true, detail: '' })).toBe('Follow');
    expect(waitingFor({ kind: 'rabbitmq', follow: ['/topic/alerts'] })).toBe(
      'Notifications appear here when the server sends a message to /topic/alerts.',
    );
    expect(waitingFor({ kind: 'socketio', follow: ['notification:new'] })).toMatch(/emits notification:new/);
    expect(waitingFor(null)).toMatch(/as the server sends them/);
  });
});
