// Opaque user data as it travels: produced and read by serialize/, carried by
// comm/ without looking inside. parts[0] is the encoded value; later parts are
// large binary buffers kept out of band so they are never copied into a
// message header (they go to the socket as their own writes).

export class Payload {
  constructor(readonly parts: Uint8Array[]) {}

  get byteLength(): number {
    let n = 0;
    for (const p of this.parts) n += p.byteLength;
    return n;
  }
}
