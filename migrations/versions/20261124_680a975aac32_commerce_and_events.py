"""commerce and events

Revision ID: 680a975aac32
Revises: 470f186d2e3d
Create Date: 2026-11-24 08:01:02.552919
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "680a975aac32"
down_revision: str | None = "470f186d2e3d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resource_type", sa.String(length=60), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("resource_uri", sa.String(length=300), nullable=True),
        sa.Column("actor", sa.JSON(), nullable=True),
        sa.Column("partner_id", sa.String(length=20), nullable=True),
        sa.Column("on_behalf_of_customer_id", sa.Uuid(), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_occurred", ["occurred_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_type"), ["type"], unique=False)

    op.create_table(
        "products",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index("ix_products_created", ["created_at", "id"], unique=False)

    op.create_table(
        "skus",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=30), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_skus_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skus")),
    )
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_skus_product_id"), ["product_id"], unique=False)

    op.create_table(
        "license_assignments",
        sa.Column("customer_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("sku_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_license_assignments_customer_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_license_assignments_sku_id_skus")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_license_assignments_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license_assignments")),
        sa.UniqueConstraint(
            "user_id", "sku_id", name=op.f("uq_license_assignments_user_id_sku_id")
        ),
    )
    with op.batch_alter_table("license_assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_license_assignments_tenant_sku", ["customer_tenant_id", "sku_id"], unique=False
        )

    op.create_table(
        "offers",
        sa.Column("sku_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("billing_cycle", sa.String(length=20), nullable=False),
        sa.Column("term", sa.String(length=10), nullable=False),
        sa.Column("cancellation_window_days", sa.Integer(), nullable=False),
        sa.Column("min_quantity", sa.Integer(), nullable=False),
        sa.Column("max_quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_offers_sku_id_skus"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index("ix_offers_created", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_offers_sku_id"), ["sku_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("customer_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("provider_account_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=False),
        sa.Column("attestation_accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_orders_customer_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_account_id"],
            ["partner_accounts.id"],
            name=op.f("fk_orders_provider_account_id_partner_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_customer", ["customer_tenant_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_orders_provider_account_id"), ["provider_account_id"], unique=False
        )

    op.create_table(
        "seat_pools",
        sa.Column("customer_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("sku_id", sa.Uuid(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("assigned", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_seat_pools_customer_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_seat_pools_sku_id_skus")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seat_pools")),
        sa.UniqueConstraint(
            "customer_tenant_id", "sku_id", name=op.f("uq_seat_pools_customer_tenant_id_sku_id")
        ),
    )
    op.create_table(
        "offer_prices",
        sa.Column("offer_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "unit_price", sa.Numeric(18, 4).with_variant(sa.String(40), "sqlite"), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.id"],
            name=op.f("fk_offer_prices_offer_id_offers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offer_prices")),
        sa.UniqueConstraint("offer_id", "country", name=op.f("uq_offer_prices_offer_id_country")),
    )
    with op.batch_alter_table("offer_prices", schema=None) as batch_op:
        batch_op.create_index("ix_offer_prices_country", ["country", "offer_id"], unique=False)

    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reseller_account_id", sa.Uuid(), nullable=False),
        sa.Column(
            "unit_price", sa.Numeric(18, 4).with_variant(sa.String(40), "sqlite"), nullable=False
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_order_lines_offer_id_offers")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_lines_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reseller_account_id"],
            ["partner_accounts.id"],
            name=op.f("fk_order_lines_reseller_account_id_partner_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
        sa.UniqueConstraint(
            "order_id", "line_number", name=op.f("uq_order_lines_order_id_line_number")
        ),
    )
    op.create_table(
        "subscriptions",
        sa.Column("customer_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("offer_id", sa.Uuid(), nullable=False),
        sa.Column("sku_id", sa.Uuid(), nullable=False),
        sa.Column("provider_account_id", sa.Uuid(), nullable=False),
        sa.Column("reseller_account_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column(
            "unit_price", sa.Numeric(18, 4).with_variant(sa.String(40), "sqlite"), nullable=False
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("term_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancellable_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_subscriptions_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["customer_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_subscriptions_customer_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_subscriptions_offer_id_offers")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_subscriptions_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_account_id"],
            ["partner_accounts.id"],
            name=op.f("fk_subscriptions_provider_account_id_partner_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["reseller_account_id"],
            ["partner_accounts.id"],
            name=op.f("fk_subscriptions_reseller_account_id_partner_accounts"),
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_subscriptions_sku_id_skus")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscriptions_customer", ["customer_tenant_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_subscriptions_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            "ix_subscriptions_provider", ["provider_account_id", "customer_tenant_id"], unique=False
        )
        batch_op.create_index(
            "ix_subscriptions_reseller", ["reseller_account_id", "customer_tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_reseller")
        batch_op.drop_index("ix_subscriptions_provider")
        batch_op.drop_index(batch_op.f("ix_subscriptions_order_id"))
        batch_op.drop_index("ix_subscriptions_customer")

    op.drop_table("subscriptions")
    op.drop_table("order_lines")
    with op.batch_alter_table("offer_prices", schema=None) as batch_op:
        batch_op.drop_index("ix_offer_prices_country")

    op.drop_table("offer_prices")
    op.drop_table("seat_pools")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_provider_account_id"))
        batch_op.drop_index("ix_orders_customer")

    op.drop_table("orders")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offers_sku_id"))
        batch_op.drop_index("ix_offers_created")

    op.drop_table("offers")
    with op.batch_alter_table("license_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_license_assignments_tenant_sku")

    op.drop_table("license_assignments")
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_skus_product_id"))

    op.drop_table("skus")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index("ix_products_created")

    op.drop_table("products")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_type"))
        batch_op.drop_index("ix_events_occurred")

    op.drop_table("events")
