// Compile-time: typed code written for node:tls compiles after the import swap. An mlstls Server goes where a
// tls.Server is expected (the compiler checks the assignment; the test only has to build), and an MlsTlsSocket
// has the members typed code calls on a tls.TLSSocket, and is itself a tls.TLSSocket to the compiler.

import { expect } from "chai";
import * as net from "node:net";
import * as tls from "node:tls";
import * as mlstls from "../../lib/index.js";

function takesTlsServer(s: tls.Server): tls.Server {
  return s;
}

/** Members of tls.TLSSocket that mlstls lacked; each must exist with node's shape. */
type Members = Pick<
  tls.TLSSocket,
  "getSharedSigalgs" | "getTLSTicket" | "enableTrace" | "setKeyCert" | "autoSelectFamilyAttemptedAddresses" | "bufferSize" | "resetAndDestroy"
>;

describe("types: mlstls in node:tls's places", () => {
  it("a Server is a tls.Server to the compiler; a socket has TLSSocket's members", () => {
    const server = mlstls.createServer();
    const asTls: tls.Server = takesTlsServer(server);
    expect(asTls).to.equal(server);
    const socket = new mlstls.TLSSocket(null);
    const members: Members = socket as unknown as Members;
    expect(members.getSharedSigalgs()).to.deep.equal([]);
    expect(members.getTLSTicket()).to.equal(undefined);
    expect(members.autoSelectFamilyAttemptedAddresses).to.deep.equal([]);
    expect(members.bufferSize).to.equal(0);
    expect(() => members.setKeyCert(mlstls.createSecureContext() as unknown as tls.SecureContext)).to.not.throw();
    socket.destroy();
  });

  it("an MlsTlsSocket is a tls.TLSSocket to the compiler, with node:tls's values before the handshake", () => {
    const socket = new mlstls.TLSSocket(null);
    // The compile-time check: this assignment (and the function parameter) build only if every member fits.
    const asTls: tls.TLSSocket = socket;
    const takes = (t: tls.TLSSocket): tls.TLSSocket => t;
    expect(takes(asTls)).to.equal(socket);
    const node = new tls.TLSSocket(null as unknown as net.Socket);
    try {
      // The members whose @types/node types do not admit their run-time values keep node's values.
      for (const t of [node, asTls]) {
        expect(t.authorizationError).to.equal(null);
        expect(t.getPeerCertificate()).to.deep.equal({});
      }
      expect(asTls.getCipher() ?? undefined).to.equal(node.getCipher() ?? undefined);
      expect(asTls.getSession() ?? undefined).to.equal(node.getSession() ?? undefined);
      expect(asTls.getTLSTicket() ?? undefined).to.equal(node.getTLSTicket() ?? undefined);
      expect(asTls.getFinished() ?? undefined).to.equal(node.getFinished() ?? undefined);
    } finally {
      node.destroy();
      socket.destroy();
    }
  });

  it("has every public member of net.Socket, as its net.Socket typing claims", () => {
    const socket = new mlstls.TLSSocket(null);
    const plain = new net.Socket();
    const missing: string[] = [];
    for (let o: object | null = plain; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
      for (const k of Object.getOwnPropertyNames(o)) {
        if (!k.startsWith("_") && !(k in socket)) missing.push(k);
      }
    }
    plain.destroy();
    socket.destroy();
    expect(missing).to.deep.equal([]);
  });
});
