import { formatPrice } from "./format.js";

const TAX_RATE = 0.2;

/**
 * A shopping cart.
 */
export class Cart {
  constructor() {
    this.items = [];
  }

  /** Adds an item. */
  add(item) {
    this.items.push(item);
  }

  total() {
    return this.items.reduce((sum, i) => sum + i.price, 0) * (1 + TAX_RATE);
  }
}

export function checkout(cart) {
  return formatPrice(cart.total());
}

const discount = (price, pct) => price * (1 - pct);
