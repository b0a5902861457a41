package native;

public final class Checksum {
    /**
     * Compute the {@code Adler-32} checksum of a byte array.
     * <p>
     * Both running sums are kept modulo 65521.
     */
    @SuppressWarnings("unused")
    public static long adler32(byte[] data) {
        long a = 1, b = 0;
        for (byte x : data) {
            a = (a + (x & 0xff)) % 65521;
            b = (b + a) % 65521;
        }
        return (b << 16) | a;
    }
}
