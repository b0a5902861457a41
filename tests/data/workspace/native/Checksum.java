package native;

/** Checksums for validating transmitted data. */
public class Checksum {
    /**
     * Compute the Adler-32 checksum of a byte array.
     */
    public static long adler32(byte[] data) {
        long a = 1, b = 0;
        for (byte value : data) {
            a = (a + (value & 0xff)) % 65521;
            b = (b + a) % 65521;
        }
        return (b << 16) | a;
    }
}
