-- expect: require-lock-timeout@1 require-concurrent-index-creation@1 require-concurrent-index-creation@2
CREATE UNIQUE INDEX "Orders_Ref" ON public."Orders" ("Ref");
/* a block comment; with a semicolon */ CREATE INDEX o2 ON ONLY orders USING btree (customer_id);
