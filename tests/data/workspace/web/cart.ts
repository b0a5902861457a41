export interface CartItem {
  sku: string;
  price: number;
  quantity: number;
}

/**
 * Compute the total price of a shopping cart, applying a percentage discount.
 */
export function cartTotal(items: CartItem[], discountPercent = 0): number {
  const subtotal = items.reduce((sum, item) => sum + item.price * item.quantity, 0);
  return Math.round(subtotal * (100 - discountPercent)) / 100;
}

export class RateLimiter {
  private timestamps: number[] = [];

  constructor(private readonly limit: number, private readonly windowMs: number) {}

  /** Returns true when another request is allowed inside the sliding window. */
  tryAcquire(now: number = Date.now()): boolean {
    this.timestamps = this.timestamps.filter((t) => now - t < this.windowMs);
    if (this.timestamps.length >= this.limit) {
      return false;
    }
    this.timestamps.push(now);
    return true;
  }
}
