// The NSS key log (PROTOCOL.md §8): lines naming each traffic secret as it is installed, for Wireshark-style
// decryption and `mlstls decode`. Off unless asked for: the lines are secrets.


export class KeyLog {
  on: boolean;
  private sendGeneration = 0;
  private recvGeneration = 0;

  constructor(
    /** The engine's role (a getter: the subclass sets it after the base constructor). */
    private readonly role: () => "initiator" | "responder",
    on: boolean,
    private readonly emit: (line: string) => void,
    private readonly clientRandom: () => Uint8Array | undefined,
  ) {
    this.on = on;
  }

  /** A traffic secret just installed for `dir`; its generation counts every install of that direction. */
  traffic(dir: "send" | "recv", secret: () => Uint8Array | undefined): void {
    const n = dir === "send" ? this.sendGeneration++ : this.recvGeneration++;
    if (!this.on) return;
    const s = secret();
    if (s !== undefined) this.line(`${this.label(dir)}_${n}`, s);
  }

  line(label: string, secret: Uint8Array): void {
    const random = this.clientRandom();
    if (!this.on || random === undefined) return;
    this.emit(`${label} ${Buffer.from(random).toString("hex")} ${Buffer.from(secret).toString("hex")}\n`);
  }

  private label(dir: "send" | "recv"): string {
    const client = (this.role() === "initiator") === (dir === "send");
    return client ? "CLIENT_TRAFFIC_SECRET" : "SERVER_TRAFFIC_SECRET";
  }
}
