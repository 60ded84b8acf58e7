// Compile-time: typed code written for node:tls compiles after the import swap. An mlstls Server goes where a
// tls.Server is expected (the compiler checks the assignment; the test only has to build), and an MlsTlsSocket
// has the members typed code calls on a tls.TLSSocket.

import { expect } from "chai";
import type * as tls from "node:tls";
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
    expect(() => members.setKeyCert({} as tls.SecureContext)).to.throw(Error).with.property("code", "ERR_METHOD_NOT_IMPLEMENTED");
    socket.destroy();
  });
});
