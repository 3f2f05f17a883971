"""The admin log's records become leaves of the global log, like the cases' records.

Existing admin records are appended to the log here, in their order, as appends would have done
(each leaf's subtree hashes stored and the frontier moved on).

Revision ID: c0a5e1f7b2d4
Revises: 3c1d2e9f7a40
Create Date: 2026-12-04 15:40:00.000000

"""
import hashlib

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c0a5e1f7b2d4'
down_revision = '3c1d2e9f7a40'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('admin_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('log_index', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_admin_records_log_index'), ['log_index'])
    with op.batch_alter_table('log_leaves', schema=None) as batch_op:
        batch_op.add_column(sa.Column('admin_record_id', sa.Integer(), nullable=True))
        batch_op.alter_column('record_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_unique_constraint(batch_op.f('uq_log_leaves_admin_record_id'), ['admin_record_id'])
        batch_op.create_foreign_key(batch_op.f('fk_log_leaves_admin_record_id_admin_records'), 'admin_records',
                                    ['admin_record_id'], ['id'])
        batch_op.create_check_constraint('leaf_one_record', '(record_id IS NULL) <> (admin_record_id IS NULL)')
    backfill(op.get_bind())


def backfill(connection) -> None:
    """Append every existing admin record to the log, in seq order."""
    admin = sa.table('admin_records', sa.column('id', sa.Integer), sa.column('seq', sa.Integer),
                     sa.column('hash', sa.String), sa.column('log_index', sa.Integer))
    leaves = sa.table('log_leaves', sa.column('index', sa.Integer), sa.column('leaf_hash', sa.LargeBinary),
                      sa.column('admin_record_id', sa.Integer))
    nodes = sa.table('log_nodes', sa.column('level', sa.SmallInteger), sa.column('index', sa.Integer),
                     sa.column('hash', sa.LargeBinary))
    state = sa.table('log_state', sa.column('id', sa.Integer), sa.column('size', sa.Integer),
                     sa.column('frontier', sa.LargeBinary))
    rows = connection.execute(sa.select(admin.c.id, admin.c.hash).order_by(admin.c.seq)).all()
    if not rows:
        return
    current = connection.execute(sa.select(state.c.size, state.c.frontier).where(state.c.id == 1)).first()
    if current is None:
        connection.execute(state.insert().values(id=1, size=0, frontier=b""))
        size, blob = 0, b""
    else:
        size, blob = current.size, bytes(current.frontier or b"")
    frontier = [blob[i:i + 32] for i in range(0, len(blob), 32)]
    for record_id, record_hash in rows:
        value, level = hashlib.sha256(b"\x00" + bytes.fromhex(record_hash)).digest(), 0
        connection.execute(leaves.insert().values(index=size, leaf_hash=value, admin_record_id=record_id))
        connection.execute(admin.update().where(admin.c.id == record_id).values(log_index=size))
        while size >> level & 1:
            value = hashlib.sha256(b"\x01" + frontier.pop() + value).digest()
            level += 1
            connection.execute(nodes.insert().values(level=level, index=size >> level, hash=value))
        frontier.append(value)
        size += 1
    connection.execute(state.update().where(state.c.id == 1).values(size=size, frontier=b"".join(frontier)))


def downgrade() -> None:
    connection = op.get_bind()
    if connection.execute(sa.text("SELECT count(*) FROM log_leaves WHERE admin_record_id IS NOT NULL")).scalar():
        raise RuntimeError("admin records, once leaves of the log, stay in it: the log only grows")
    with op.batch_alter_table('log_leaves', schema=None) as batch_op:
        batch_op.drop_constraint('leaf_one_record', type_='check')
        batch_op.drop_constraint(batch_op.f('fk_log_leaves_admin_record_id_admin_records'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_log_leaves_admin_record_id'), type_='unique')
        batch_op.alter_column('record_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('admin_record_id')
    with op.batch_alter_table('admin_records', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_admin_records_log_index'), type_='unique')
        batch_op.drop_column('log_index')
