import WebSocket from 'ws';
const url = 'ws://127.0.0.1:15674/ws';
function raw(frames, label) {
  return new Promise(res => {
    const t0 = Date.now();
    const ws = new WebSocket(url, ['v12.stomp']);
    ws.on('open', () => { for (const f of frames) ws.send(f); });
    ws.on('message', d => console.log(label, Date.now()-t0, 'MSG', JSON.stringify(d.toString().slice(0,40))));
    ws.on('close', (c, r) => { console.log(label, Date.now()-t0, 'CLOSE', c, r.toString()); res(); });
    setTimeout(() => { console.log(label, 'closing by client'); ws.close(); }, 4000);
  });
}
await raw(['CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0', 'FOO\n\n\0'], 'bad');
await raw(['CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0', 'CONNECT\naccept-version:1.2\n\n\0'], 'bad2');
await raw(['CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0', 'SEND\ndestination:/foo/bar\n\nx\0'], 'baddest');
