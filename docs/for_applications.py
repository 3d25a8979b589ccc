"""What the README's "For applications" section shows, run end to end from an application's
side: a shop with uuid customers and products and an events table, called through psycopg
(pip install "psycopg[binary]"). Run it with docs/for_applications.sh, which creates the
database and the application's role first; the README quotes its output.
"""
import os
import random
import uuid

import psycopg

dsn = os.environ.get("SHOP_DSN", "host=127.0.0.1 dbname=pgrec_shop user=shop_app password=shop")
ns = uuid.UUID("6f1c2a4e-0000-4000-8000-000000000000")


def cid(n):
    return uuid.uuid5(ns, f"customer {n}")


def pid(n):
    return uuid.uuid5(ns, f"product {n}")


with psycopg.connect(dsn, autocommit=True) as conn:
    conn.execute("SET client_min_messages = warning")
    # The shop's own tables: 400 customers, 120 products in 8 categories, and what customers
    # did (view, cart, purchase), mostly in their two favourite categories.
    conn.execute("""
        CREATE TABLE customers (customer_id uuid PRIMARY KEY);
        CREATE TABLE products (product_id uuid PRIMARY KEY, name text, category int,
                               in_stock boolean DEFAULT true);
        CREATE TABLE events (customer_id uuid, product_id uuid, kind text, at timestamptz)""")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO customers VALUES (%s)", [(cid(c),) for c in range(400)])
        cur.executemany("INSERT INTO products VALUES (%s, %s, %s)",
                        [(pid(p), f"product {p}", p % 8) for p in range(120)])
    rows = []
    rnd = random.Random(42)
    for c in range(400):
        favourites = rnd.sample(range(8), 2)
        for _ in range(25):
            cat = rnd.choice(favourites) if rnd.random() < 0.8 else rnd.randrange(8)
            p = cat + 8 * rnd.randrange(15)
            kind = rnd.choices(["view", "cart", "purchase"], [0.7, 0.2, 0.1])[0]
            rows.append((cid(c), pid(p), kind, f"2026-11-{1 + rnd.randrange(28):02d}"))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO events VALUES (%s, %s, %s, %s)", rows)

    # Train on the events themselves: each row weighs by its kind (a purchase counts most)
    # and halves per 30 days of age; the weights are stored with the version, so retrain and
    # fold-ins weigh rows the same way.
    conn.execute("""
        CREATE VIEW interactions AS
        SELECT customer_id AS user_id, product_id AS item_id, kind, at FROM events""")
    row = conn.execute("""
        SELECT version, n_users, n_items FROM pgrec.train('shop', 'interactions', 'ials', rating_col => NULL,
            params => '{"factors": 16, "event_col": "kind", "event_weights": {"purchase": 5, "cart": 2, "view": 1},
                        "time_col": "at", "half_life": "30 days"}')""").fetchone()
    print("trained version %s on %s customers x %s products" % row)

    me = cid(7)
    print("\nrecommend for a customer (uuid in, uuid out):")
    for item, score in conn.execute(
            "SELECT item_id, score FROM pgrec.recommend('shop', %s, 3)", (me,)):
        print(f"  {item}  {score:.3f}")

    print("\na new visitor, with the popular fallback:")
    new = uuid.uuid5(ns, "a visitor")
    for item, score in conn.execute(
            "SELECT item_id, score FROM pgrec.recommend('shop', %s, 3, fallback => 'popular')", (new,)):
        print(f"  {item}  {score:.1f} weighted interactions")

    # Out of stock: hidden from every answer until restocked, across retrains.
    top = [r[0] for r in conn.execute("SELECT item_id FROM pgrec.recommend('shop', %s, 2)", (me,))]
    conn.execute("UPDATE products SET in_stock = false WHERE product_id = ANY(%s)", (top,))
    hidden = conn.execute("""
        SELECT pgrec.hide_items('shop', array_agg(product_id)) FROM products WHERE NOT in_stock""").fetchone()[0]
    print(f"\nhid {hidden} products that went out of stock; recommend still returns 3:")
    for item, score in conn.execute(
            "SELECT item_id, score FROM pgrec.recommend('shop', %s, 3)", (me,)):
        print(f"  {item}  {score:.3f}")

    # The cart's products are not worth recommending again on the cart page.
    cart = [r[0] for r in conn.execute("SELECT item_id FROM pgrec.recommend('shop', %s, 2)", (me,))]
    shown = conn.execute(
        "SELECT count(*) FROM pgrec.recommend('shop', %s, 3, exclude => %s) WHERE item_id = ANY(%s)",
        (me, cart, cart)).fetchone()[0]
    print(f"\nwith exclude => the cart: {shown} of the cart's products shown")

    # Variety: categories among the top 10, plain and with diversity 0.5.
    for d in (0.0, 0.5):
        n = conn.execute("""
            SELECT count(DISTINCT p.category) FROM pgrec.recommend('shop', %s, 10, diversity => %s::real) r
            JOIN products p ON p.product_id = r.item_id""", (me, d)).fetchone()[0]
        print(f"diversity {d}: {n} categories in the top 10")

    # Why the top product: the customer's own products that weigh most in its score.
    top = conn.execute("SELECT item_id FROM pgrec.recommend('shop', %s, 1)", (me,)).fetchone()[0]
    print(f"\nwhy {top}:")
    for item, share, score, exact in conn.execute(
            "SELECT item_id, contribution, score, exact FROM pgrec.explain('shop', %s, %s, 3)", (me, top)):
        print(f"  {str(item) if item else '(the rest)':36}  {share:+.3f}  of {score:.3f}{'' if exact else ' (approximate)'}")

    # A product added today, folded in from its first events without a retrain.
    fresh = uuid.uuid5(ns, "product new")
    conn.execute("INSERT INTO products VALUES (%s, 'new product', 3)", (fresh,))
    fans = [cid(c) for c in range(0, 400, 9)]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO events VALUES (%s, %s, 'purchase', '2026-11-30')",
                        [(c, fresh) for c in fans])
    folded = conn.execute("""
        SELECT pgrec.fold_in_items('shop', %s, rating_col => NULL)""",
        (f"SELECT * FROM interactions WHERE item_id = '{fresh}'",)).fetchone()[0]
    similar = conn.execute(
        "SELECT count(*) FROM pgrec.similar_items('shop', %s, 5)", (fresh,)).fetchone()[0]
    print(f"\nfolded in {folded} new product; similar_items finds {similar} neighbours for it")

    # Nightly retrain with pg_cron (in the database where pg_cron runs):
    #   SELECT cron.schedule('retrain shop', '0 3 * * *', $$SELECT pgrec.retrain('shop')$$);
    row = conn.execute("SELECT version FROM pgrec.retrain('shop')").fetchone()
    still = conn.execute("""
        SELECT count(*) FROM pgrec.recommend('shop', %s, 10) r
        JOIN products p ON p.product_id = r.item_id WHERE NOT p.in_stock""", (me,)).fetchone()[0]
    print(f"retrained: version {row[0]}; out-of-stock products recommended: {still}")
