/**
 * Where the functions run on the network (README, "Deploy", network):
 *
 * - `none` (default): outside any VPC, from AWS addresses that change. Enough for Cloud clusters
 *   without `adminSql`: the Cloud API, Slack and the AWS APIs are public.
 * - `new`: a VPC of its own, two AZs, the functions in private subnets behind one NAT gateway whose
 *   Elastic IP is the bot's fixed egress address (output `EgressIp`): name it in `adminSourceCidrs`,
 *   in a self-hosted cluster's firewall and in a Cloud cluster's allowlist for `adminSql`.
 * - `existing`: the functions in your private subnets (which must reach the internet or VPC
 *   endpoints for Slack, DynamoDB, SQS, Secrets Manager and the Cloud API); for internal
 *   self-hosted clusters. The egress address is your NAT's.
 *
 * The functions' security group allows outbound only; nothing may connect in.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ConfigError } from '../lib/config';

export type NetworkChoice =
  | { readonly kind: 'none' }
  | { readonly kind: 'new' }
  | { readonly kind: 'existing'; readonly vpcId: string; readonly subnetIds: readonly string[]; readonly availabilityZones: readonly string[] };

/**
 * An existing VPC's placement, checked: ids of the right shape, one zone per subnet. Bad input is
 * one line with an example (`ConfigError`, as the app prints it).
 */
export function existingNetwork(vpcId: string, subnetIds: readonly string[], availabilityZones: readonly string[]): NetworkChoice {
  if (!/^vpc-[0-9a-f]{8,17}$/.test(vpcId)) throw new ConfigError(`vpcId: "${vpcId}" is not a VPC id. Example: -c vpcId=vpc-0abc1234def567890`);
  const bad = subnetIds.find((s) => !/^subnet-[0-9a-f]{8,17}$/.test(s));
  if (subnetIds.length === 0 || bad !== undefined) throw new ConfigError(`subnetIds: "${bad ?? ''}" is not a list of subnet ids. Example: -c subnetIds=subnet-0abc1234,subnet-0def5678`);
  if (availabilityZones.length !== subnetIds.length) throw new ConfigError('availabilityZones: give one zone per subnet, in the same order. Example: -c availabilityZones=eu-west-1a,eu-west-1b');
  return { kind: 'existing', vpcId, subnetIds, availabilityZones };
}

export class FunctionNetwork extends Construct {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.SecurityGroup;
  /** The NAT gateway's Elastic IP, for a VPC made here. */
  readonly egressIp?: string;

  /** `choice` as `existingNetwork` made it, for an existing VPC. */
  constructor(scope: Construct, id: string, choice: Exclude<NetworkChoice, { kind: 'none' }>) {
    super(scope, id);
    if (choice.kind === 'new') {
      const vpc = new ec2.Vpc(this, 'Vpc', {
        maxAzs: 2,
        natGateways: 1,
        subnetConfiguration: [
          { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
          { name: 'functions', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        ],
        // Rejected traffic is what an operator looks for when a cluster seems unreachable.
        flowLogs: { rejected: { trafficType: ec2.FlowLogTrafficType.REJECT } },
      });
      this.vpc = vpc;
      this.subnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
      const eip = vpc.publicSubnets.map((s) => s.node.tryFindChild('EIP')).find((c): c is ec2.CfnEIP => c instanceof ec2.CfnEIP);
      if (eip === undefined) throw new Error('network: the NAT gateway has no Elastic IP');
      this.egressIp = eip.attrPublicIp;
    } else {
      const { vpcId, subnetIds, availabilityZones } = choice;
      // Only the id: the subnets are selected one by one below (no route tables needed at synth).
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId, availabilityZones: [...availabilityZones] });
      this.subnets = { subnets: subnetIds.map((s, i) => ec2.Subnet.fromSubnetAttributes(this, `Subnet${i}`, { subnetId: s, availabilityZone: availabilityZones[i] })) };
    }
    this.securityGroup = new ec2.SecurityGroup(this, 'Functions', { vpc: this.vpc, allowAllOutbound: true, description: 'crdb-chatops functions: outbound only' });
  }

  /**
   * What Lambda does with the function's own role to place it in the VPC: the network interfaces.
   * (The CDK adds the AWS-managed AWSLambdaVPCAccessExecutionRole only to roles it makes itself.)
   */
  static networkInterfaceStatement(): iam.PolicyStatement {
    return new iam.PolicyStatement({
      sid: 'VpcNetworkInterfaces',
      actions: ['ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
      resources: ['*'],
    });
  }
}
